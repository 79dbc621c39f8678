/* The image set of a dump directory, read and validated in one place (see imgset.h). */
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "images: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/imgset.h"

#define IMG_MAX_AUXV_WORDS (2 * 64)
#define IMG_MAX_SHMEM_SIZE (1ULL << 46)

static int bad(void)
{
	errno = EBADMSG;
	return -1;
}

InventoryEntry *img_read_inventory(int dfd)
{
	cleanup_img struct img *img = img_open(dfd, IMG_INVENTORY, O_RDONLY | IMG_OPT_MISSING_OK, 0);
	InventoryEntry *inv;

	if (!img) {
		if (errno == ENOENT)
			pr_err("no inventory.img: not a dump directory, or the dump did not complete\n");
		return NULL;
	}
	if (img_read_one(img, (void **)&inv) < 0)
		return NULL;
	if (inv->img_version != IMG_FORMAT_VERSION) {
		pr_err("inventory.img: image version %u, this criu-lite reads %u\n", inv->img_version,
		       IMG_FORMAT_VERSION);
		goto bad;
	}
	if (!inv->has_dump_complete || !inv->dump_complete) {
		pr_err("inventory.img: the dump did not complete; these images can't be restored\n");
		goto bad;
	}
	if (inv->has_page_size && inv->page_size != PAGE_SIZE) {
		pr_err("inventory.img: dumped with %u-byte pages, this machine uses %lu\n", inv->page_size,
		       PAGE_SIZE);
		goto bad;
	}
	return inv;
bad:
	inventory_entry__free_unpacked(inv, NULL);
	errno = EBADMSG;
	return NULL;
}

/* Every record of an image into a heap array (free with img_free_msg each, then free). */
static int read_all_records(struct img *img, void ***ret, size_t *ret_n)
{
	void **v = NULL;
	size_t n = 0, cap = 0;
	void *msg;
	int r;

	while ((r = img_read(img, &msg)) == 1) {
		if (n == cap) {
			void **nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				pr_perror("can't grow a record array");
				img_free_msg(img, msg);
				r = -1;
				break;
			}
			v = nv;
		}
		v[n++] = msg;
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			img_free_msg(img, v[i]);
		free(v);
		return -1;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* All records of an optional image (none if the file does not exist). */
static int read_optional(int dfd, enum img_type type, unsigned long id, void ***ret, size_t *ret_n)
{
	cleanup_img struct img *img = img_open(dfd, type, O_RDONLY | IMG_OPT_MISSING_OK, id);

	*ret = NULL;
	*ret_n = 0;
	if (!img)
		return errno == ENOENT ? 0 : -1;
	return read_all_records(img, ret, ret_n);
}

static int read_one(int dfd, enum img_type type, unsigned long id, bool optional, void **ret)
{
	cleanup_img struct img *img = img_open(dfd, type, O_RDONLY | (optional ? IMG_OPT_MISSING_OK : 0), id);

	*ret = NULL;
	if (!img)
		return optional && errno == ENOENT ? 0 : -1;
	return img_read_one(img, ret);
}

ssize_t img_set_task_idx(const struct img_set *s, uint32_t pid)
{
	for (size_t i = 0; i < s->nr_tasks; i++)
		if (s->tasks[i].pe->pid == pid)
			return i;
	return -1;
}

ssize_t img_set_file_idx(const struct img_set *s, uint32_t id)
{
	/* dump numbers files 1..N in order: look there first */
	if (id >= 1 && id <= s->nr_files && s->files[id - 1]->id == id)
		return id - 1;
	for (size_t i = 0; i < s->nr_files; i++)
		if (s->files[i]->id == id)
			return i;
	return -1;
}

ssize_t img_set_shmem_idx(const struct img_set *s, uint64_t id)
{
	for (size_t i = 0; i < s->nr_shmems; i++)
		if (s->shmems[i].se->id == id)
			return i;
	return -1;
}

/* ---- pstree ---- */

static bool is_zombie(const PstreeEntry *pe)
{
	return pe->has_zombie && pe->zombie;
}

/* A wait status a process can end with (exited, or killed by a signal that kills
 * without a core dump), or a stop/continue/ignore signal (never). */
static bool exit_status_ok(uint32_t st)
{
	uint32_t sig = st & 0x7f;

	if (sig == 0)
		return st <= 0xff00 && !(st & 0xff);
	if (st & ~0x7fu)
		return false; /* a core dump or garbage */
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGURG:
	case SIGWINCH: case 0x7f:
		return false;
	default:
		return sig <= 64;
	}
}

/* Zombies and dead leaders: what pstree.img says of task i is consistent. */
static int check_task_kind(const struct img_set *s, size_t i)
{
	const PstreeEntry *pe = s->tasks[i].pe;

	if (pe->has_exit_signal && pe->exit_signal > 64) {
		pr_err("pstree.img: task %u has exit signal %u\n", pe->pid, pe->exit_signal);
		return bad();
	}
	if (is_zombie(pe)) {
		if (i == 0 || pe->n_threads != 1 || (pe->has_leader_dead && pe->leader_dead) ||
		    !pe->has_exit_status || !exit_status_ok(pe->exit_status)) {
			pr_err("pstree.img: zombie %u: the root, with threads, or a bad exit status\n", pe->pid);
			return bad();
		}
		for (size_t k = 0; k < s->nr_tasks; k++)
			if (s->tasks[k].pe->ppid == pe->pid) {
				pr_err("pstree.img: zombie %u has a child, %u\n", pe->pid, s->tasks[k].pe->pid);
				return bad();
			}
	}
	if (pe->has_leader_dead && pe->leader_dead && pe->n_threads < 2) {
		pr_err("pstree.img: task %u's leader is dead, and it has no other thread\n", pe->pid);
		return bad();
	}
	return 0;
}

static int check_pstree(struct img_set *s)
{
	if (!s->nr_tasks) {
		pr_err("pstree.img: no tasks\n");
		return bad();
	}
	for (size_t i = 0; i < s->nr_tasks; i++) {
		const PstreeEntry *pe = s->tasks[i].pe;
		if (pe->pid < 2 || !pe->n_threads || pe->threads[0] != pe->pid) {
			pr_err("pstree.img: task %u: bad pid or thread list\n", pe->pid);
			return bad();
		}
		if (pe->n_threads > IMG_MAX_THREADS) {
			pr_err("pstree.img: task %u has %zu threads, more than %u\n", pe->pid, pe->n_threads,
			       IMG_MAX_THREADS);
			return bad();
		}
		if (check_task_kind(s, i) < 0)
			return -1;
		if ((i == 0) != (pe->ppid == 0)) {
			pr_err("pstree.img: the root must come first and be the only task without a parent\n");
			return bad();
		}
		if (i) {
			ssize_t p = img_set_task_idx(s, pe->ppid);
			if (p < 0) {
				pr_err("pstree.img: task %u's parent %u is not in the tree\n", pe->pid, pe->ppid);
				return bad();
			}
			if ((size_t)p >= i) {
				pr_err("pstree.img: task %u comes before its parent %u\n", pe->pid, pe->ppid);
				return bad();
			}
		}
		for (size_t k = 0; k <= i; k++)
			for (size_t a = 0; a < s->tasks[k].pe->n_threads; a++)
				for (size_t b = 0; b < pe->n_threads; b++)
					if ((k < i || a < b) && s->tasks[k].pe->threads[a] == pe->threads[b]) {
						pr_err("pstree.img: tid %u appears twice\n", pe->threads[b]);
						return bad();
					}
	}
	if (s->inv->has_root_pid && s->inv->root_pid != s->tasks[0].pe->pid) {
		pr_err("inventory.img says the root is %u, pstree.img says %u\n", s->inv->root_pid,
		       s->tasks[0].pe->pid);
		return bad();
	}
	return 0;
}

/* ---- one task ---- */

static bool vma_holds_private_pages(const VmaEntry *v)
{
	bool kind = v->kind == VMA_KIND_ANON_PRIVATE || v->kind == VMA_KIND_STACK ||
		    v->kind == VMA_KIND_HEAP || v->kind == VMA_KIND_FILE_PRIVATE || v->kind == VMA_KIND_AIO;
	return kind && !(v->has_status && (v->status & VMA_STATUS_GUARD));
}

/* Is [addr, addr + len) covered by adjacent VMAs that hold private pages? VMAs are
 * sorted; *hint is where to start looking (runs come in increasing order). */
static bool pages_in_vmas(const MmEntry *mm, uint64_t addr, uint64_t len, size_t *hint)
{
	for (size_t i = *hint; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		uint64_t end;
		if (v->end <= addr)
			continue;
		if (v->start > addr || !vma_holds_private_pages(v))
			return false;
		*hint = i;
		end = v->end;
		for (size_t k = i + 1; end < addr + len && k < mm->n_vmas && mm->vmas[k]->start == end &&
				       vma_holds_private_pages(mm->vmas[k]);
		     k++)
			end = mm->vmas[k]->end;
		return end >= addr + len;
	}
	return false;
}

static int check_cores(const struct img_task *t)
{
	bool leader_dead = t->pe->has_leader_dead && t->pe->leader_dead;

	if (is_zombie(t->pe))
		return 0;
	for (size_t i = 0; i < t->pe->n_threads; i++) {
		const ThreadCoreEntry *c = t->cores[i];
		const UserRegsX86 *r = c->gpregs;
		if (c->tid != t->pe->threads[i] || !r) {
			pr_err("core-%u.img: thread %u, no registers or the wrong thread\n", t->pe->threads[i],
			       c->tid);
			return bad();
		}
		if ((c->has_dead && c->dead) != (i == 0 && leader_dead)) {
			pr_err("core-%u.img: a dead thread that is not the dead leader, or the other way\n", c->tid);
			return bad();
		}
		if (c->has_xsave && c->xsave.len > IMG_MAX_XSAVE) {
			pr_err("core-%u.img: XSAVE area of %zu bytes is too large\n", c->tid, c->xsave.len);
			return bad();
		}
		if (r->fs_base >= IMG_TASK_SIZE || r->gs_base >= IMG_TASK_SIZE || r->ip >= IMG_TASK_SIZE) {
			pr_err("core-%u.img: fs/gs base or ip out of the user address space\n", c->tid);
			return bad();
		}
	}
	return 0;
}

static int check_mm(const struct img_set *s, const struct img_task *t)
{
	const MmEntry *mm = t->mm;
	uint32_t pid = t->pe->pid;
	uint64_t prev_end = 0;
	size_t hint = 0;
	const uint64_t f[] = { mm->start_code, mm->end_code, mm->start_data, mm->end_data,
			       mm->start_brk, mm->brk, mm->start_stack, mm->arg_start,
			       mm->arg_end, mm->env_start, mm->env_end };
	bool wrong = mm->start_code > mm->end_code || mm->start_data > mm->end_data ||
		     mm->start_brk > mm->brk || mm->arg_start > mm->arg_end || mm->env_start > mm->env_end;

	/* what PR_SET_MM_MAP will check, checked before anything is created */
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		wrong |= f[i] >= IMG_TASK_SIZE;
	if (wrong) {
		pr_err("mm-%u.img: the code/data/brk/arg/env bounds are out of order or out of range\n", pid);
		return bad();
	}
	if (mm->n_auxv % 2 || mm->n_auxv > IMG_MAX_AUXV_WORDS) {
		pr_err("mm-%u.img: bad auxv (%zu words)\n", pid, mm->n_auxv);
		return bad();
	}
	if (mm->has_exe_file_id && img_set_file_idx(s, mm->exe_file_id) < 0) {
		pr_err("mm-%u.img: the executable is file %u, which is not in files.img\n", pid,
		       mm->exe_file_id);
		return bad();
	}
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (v->start % PAGE_SIZE || v->end % PAGE_SIZE || v->end <= v->start ||
		    (v->kind != VMA_KIND_VSYSCALL && v->end > IMG_TASK_SIZE) || v->start < prev_end) {
			pr_err("mm-%u.img: VMA %" PRIx64 "-%" PRIx64 " is misaligned, empty, out of range or overlaps\n",
			       pid, v->start, v->end);
			return bad();
		}
		if (v->kind < 1 || v->kind > VMA_KIND_MAX) {
			pr_err("mm-%u.img: VMA %" PRIx64 " has unknown kind %u\n", pid, v->start, v->kind);
			return bad();
		}
		if (v->kind == VMA_KIND_AIO && v->end - v->start > (64ULL << 20)) {
			pr_err("mm-%u.img: AIO ring %" PRIx64 " has an unbelievable size\n", pid, v->start);
			return bad();
		}
		if (v->has_pgoff && v->pgoff % PAGE_SIZE) {
			pr_err("mm-%u.img: VMA %" PRIx64 " has a misaligned file offset\n", pid, v->start);
			return bad();
		}
		if (v->kind == VMA_KIND_SHMEM && (!v->has_shmem_id || img_set_shmem_idx(s, v->shmem_id) < 0)) {
			pr_err("mm-%u.img: shmem VMA %" PRIx64 " names no shmem object\n", pid, v->start);
			return bad();
		}
		if ((v->kind == VMA_KIND_FILE_PRIVATE || v->kind == VMA_KIND_FILE_SHARED) &&
		    (!v->has_file_id || img_set_file_idx(s, v->file_id) < 0)) {
			pr_err("mm-%u.img: file VMA %" PRIx64 " names no file of files.img\n", pid, v->start);
			return bad();
		}
		if (v->n_guards % 2) {
			pr_err("mm-%u.img: VMA %" PRIx64 ": guard regions are not (start, pages) pairs\n", pid, v->start);
			return bad();
		}
		for (size_t k = 0; k < v->n_guards; k += 2)
			if (v->guards[k] % PAGE_SIZE || v->guards[k] < v->start || v->guards[k] >= v->end ||
			    !v->guards[k + 1] || v->guards[k + 1] > (v->end - v->guards[k]) / PAGE_SIZE) {
				pr_err("mm-%u.img: VMA %" PRIx64 ": a guard region at 0x%" PRIx64 " lies outside it\n",
				       pid, v->start, v->guards[k]);
				return bad();
			}
		if (v->kind != VMA_KIND_VSYSCALL)
			prev_end = v->end;
	}
	for (size_t i = 0; t->has_pages && i < t->pr.nr_entries; i++) {
		const PagemapEntry *pe = t->pr.entries[i];
		uint64_t len = (uint64_t)pe->nr_pages * PAGE_SIZE;
		if (!pages_in_vmas(mm, pe->vaddr, len, &hint)) {
			pr_err("pagemap-%u.img: pages at 0x%" PRIx64 "-0x%" PRIx64 " are in no private VMA\n", pid,
			       pe->vaddr, pe->vaddr + len);
			return bad();
		}
	}
	return 0;
}

/* POSIX timers: by id and once each, a notification the kernel takes (a signal in
 * range; SIGEV_THREAD_ID naming a live thread of the task), times the blob can add. */
static int check_timers(const struct img_task *t)
{
	const TaskEntry *te = t->task;

	for (size_t i = 0; i < te->n_posix_timers; i++) {
		const PosixTimerEntry *e = te->posix_timers[i];
		uint32_t kind = e->notify & ~4u;
		bool tid_ok = !(e->notify & 4u);

		for (size_t k = 1; !tid_ok && k < t->pe->n_threads; k++)
			tid_ok = e->has_notify_tid && e->notify_tid == t->pe->threads[k];
		if (!tid_ok && !img_task_leader_dead(t))
			tid_ok = e->has_notify_tid && e->notify_tid == t->pe->threads[0];
		if ((i && e->id <= te->posix_timers[i - 1]->id) || e->id > INT32_MAX || kind > 2 ||
		    (e->notify & 4u && kind != 0) || !tid_ok ||
		    (kind != 1 && (!e->has_signo || e->signo < 1 || e->signo > 64)) ||
		    (e->has_value_ns && e->value_ns > (1ULL << 62)) ||
		    (e->has_interval_ns && e->interval_ns > (1ULL << 62)) ||
		    (e->has_overrun && e->overrun > INT32_MAX)) {
			pr_err("task-%u.img: POSIX timer %u is out of order, or its notification or times are "
			       "bad\n", t->pe->pid, e->id);
			return bad();
		}
	}
	return 0;
}

static int check_fds(const struct img_set *s, const struct img_task *t)
{
	for (size_t i = 0; i < t->nr_fds; i++) {
		const FdinfoEntry *fi = t->fds[i];
		if (fi->fd >= IMG_MAX_FD) {
			pr_err("fdinfo-%u.img: fd %u is out of range\n", t->pe->pid, fi->fd);
			return bad();
		}
		if (img_set_file_idx(s, fi->file_id) < 0) {
			pr_err("fdinfo-%u.img: fd %u names file %u, which is not in files.img\n", t->pe->pid,
			       fi->fd, fi->file_id);
			return bad();
		}
		if (i && t->fds[i - 1]->fd >= fi->fd) {
			pr_err("fdinfo-%u.img: fd %u appears twice or out of order\n", t->pe->pid, fi->fd);
			return bad();
		}
	}
	return 0;
}

static int load_task(int dfd, struct img_task *t)
{
	uint32_t pid = t->pe->pid;
	char id[24];

	if (is_zombie(t->pe))
		return 0; /* nothing but its pstree entry */

	t->cores = calloc(t->pe->n_threads, sizeof(*t->cores));
	if (!t->cores) {
		pr_perror("can't allocate thread cores");
		return -1;
	}
	for (size_t i = 0; i < t->pe->n_threads; i++)
		if (read_one(dfd, IMG_CORE, t->pe->threads[i], false, (void **)&t->cores[i]) < 0)
			return -1;
	if (read_one(dfd, IMG_TASK, pid, false, (void **)&t->task) < 0 ||
	    read_one(dfd, IMG_CREDS, pid, true, (void **)&t->creds) < 0 ||
	    read_one(dfd, IMG_MM, pid, false, (void **)&t->mm) < 0 ||
	    read_optional(dfd, IMG_FDINFO, pid, (void ***)&t->fds, &t->nr_fds) < 0)
		return -1;
	snprintf(id, sizeof(id), "%u", pid);
	if (page_read_open(&t->pr, dfd, id, IMG_OPT_MISSING_OK) == 0)
		t->has_pages = true;
	else if (errno != ENOENT)
		return -1;
	return 0;
}

/* ---- shmem and files ---- */

static int load_shmem(int dfd, struct img_shmem *sh)
{
	const ShmemEntry *se = sh->se;
	char id[40];

	if (se->kind < SHMEM_KIND_ANON || se->kind > SHMEM_KIND_SYSV) {
		pr_err("shmem.img: object %" PRIu64 " has unknown kind %u\n", se->id, se->kind);
		return bad();
	}
	if (se->size > IMG_MAX_SHMEM_SIZE) {
		pr_err("shmem.img: object %" PRIu64 " has an unbelievable size %" PRIu64 "\n", se->id, se->size);
		return bad();
	}
	snprintf(id, sizeof(id), "shmem-%" PRIu64, se->has_pages_id ? (uint64_t)se->pages_id : se->id);
	if (page_read_open(&sh->pr, dfd, id, IMG_OPT_MISSING_OK) < 0)
		return errno == ENOENT ? 0 : -1; /* no pages: all holes */
	sh->has_pages = true;
	for (size_t k = 0; k < sh->pr.nr_entries; k++) {
		const PagemapEntry *pe = sh->pr.entries[k];
		if (pe->flags & PE_PARENT) {
			pr_err("pagemap-%s.img: a shmem object has no parent's pages\n", id);
			return bad();
		}
		/* the last page may hold the end of the object (and bytes written past it
		 * through a mapping, which live in the same page) */
		if ((pe->flags & PE_PRESENT) &&
		    pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE > ALIGN_UP(se->size, PAGE_SIZE)) {
			pr_err("pagemap-%s.img: pages at offset 0x%" PRIx64 " lie beyond the object's %" PRIu64
			       " bytes\n", id, pe->vaddr, se->size);
			return bad();
		}
	}
	return 0;
}

static int load_shmems(int dfd, struct img_set *s)
{
	ShmemEntry **v;
	size_t n;

	if (read_optional(dfd, IMG_SHMEM, 0, (void ***)&v, &n) < 0)
		return -1;
	s->shmems = calloc(n ? n : 1, sizeof(*s->shmems));
	if (!s->shmems) {
		pr_perror("can't allocate the shmem table");
		for (size_t i = 0; i < n; i++)
			img_free_msg(NULL, v[i]);
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		s->shmems[i].se = v[i];
	s->nr_shmems = n;
	free(v);
	for (size_t i = 0; i < n; i++) {
		if (img_set_shmem_idx(s, s->shmems[i].se->id) != (ssize_t)i) {
			pr_err("shmem.img: object %" PRIu64 " appears twice\n", s->shmems[i].se->id);
			return bad();
		}
		if (load_shmem(dfd, &s->shmems[i]) < 0)
			return -1;
	}
	return 0;
}

/* An inet socket: its addresses have their family's length, its queues fit their numbers. */
static const char *check_inet_entry(const InetSkEntry *ie)
{
	size_t alen;

	if (!ie)
		return "an inet socket without its entry";
	if (ie->family != 2 && ie->family != 10) /* AF_INET, AF_INET6 */
		return "an inet socket of an unknown family";
	alen = ie->family == 2 ? 4 : 16;
	if ((ie->has_src_addr && ie->src_addr.len != alen) || (ie->has_dst_addr && ie->dst_addr.len != alen))
		return "an inet socket whose address does not fit its family";
	if (ie->src_port > 65535 || ie->dst_port > 65535)
		return "an inet socket with a port above 65535";
	if (ie->tcp) {
		const TcpStreamEntry *t = ie->tcp;
		if (!ie->has_dst_addr || !ie->has_src_addr)
			return "a TCP connection without its addresses";
		if (t->has_unsent_len && t->unsent_len > (t->has_snd_queue ? t->snd_queue.len : 0))
			return "a TCP connection with more unsent bytes than queued ones";
		if (t->snd_wscale > 14 || t->rcv_wscale > 14)
			return "a TCP connection with a window scale above 14";
	}
	if (ie->opts && ie->opts->has_filter && ie->opts->filter.len % 8)
		return "a socket filter that is not whole instructions";
	return NULL;
}

/* The sub-message each file type needs, and what it refers to. */
static int check_file_entry(const struct img_set *s, const FileEntry *fe)
{
	const char *what = NULL;

	switch (fe->type) {
	case FILE_TYPE_REG:
	case FILE_TYPE_DIR:
		if (!fe->reg || !fe->reg->path)
			what = "a file without a path";
		else if (fe->reg->has_ghost_id && img_set_file_idx(s, fe->reg->ghost_id) < 0)
			what = "an unlinked file whose contents are nowhere";
		break;
	case FILE_TYPE_CHR:
		if (!fe->chr || !fe->chr->path)
			what = "a character device without a path";
		break;
	case FILE_TYPE_MEMFD:
		if (!fe->memfd || img_set_shmem_idx(s, fe->memfd->shmem_id) < 0)
			what = "a memfd naming no shmem object";
		break;
	case FILE_TYPE_PIPE:
	case FILE_TYPE_FIFO:
		if (!fe->pipe)
			what = "a pipe without its entry";
		else if (fe->type == FILE_TYPE_FIFO && !fe->pipe->path)
			what = "a FIFO without a path";
		else if (fe->pipe->n_packets) {
			uint64_t sum = 0;
			for (size_t i = 0; i < fe->pipe->n_packets; i++)
				sum += fe->pipe->packets[i];
			if (!fe->pipe->has_data || sum != fe->pipe->data.len)
				what = "a pipe whose packets are not its data";
		}
		break;
	case FILE_TYPE_EVENTFD:
		if (!fe->eventfd)
			what = "an eventfd without its entry";
		break;
	case FILE_TYPE_EPOLL:
		if (!fe->epoll)
			what = "an epoll without its entry";
		for (size_t i = 0; !what && i < fe->epoll->n_tfds; i++)
			if (img_set_file_idx(s, fe->epoll->tfds[i]->file_id) < 0 || fe->epoll->tfds[i]->tfd >= IMG_MAX_FD)
				what = "an epoll watching a file that is not in files.img";
		break;
	case FILE_TYPE_SIGNALFD:
		if (!fe->signalfd)
			what = "a signalfd without its entry";
		break;
	case FILE_TYPE_TIMERFD:
		if (!fe->timerfd)
			what = "a timerfd without its entry";
		break;
	case FILE_TYPE_INOTIFY:
		if (!fe->inotify)
			what = "an inotify without its entry";
		break;
	case FILE_TYPE_SOCKET:
		if (!fe->socket)
			what = "a socket without its entry";
		break;
	case FILE_TYPE_INET:
		what = check_inet_entry(fe->inet);
		break;
	case FILE_TYPE_NETLINK:
		if (!fe->netlink)
			what = "a netlink socket without its entry";
		break;
	case FILE_TYPE_PACKET:
		if (!fe->packet)
			what = "a packet socket without its entry";
		else if (fe->packet->ifname && strnlen(fe->packet->ifname, 16) >= 16)
			what = "a packet socket bound to an interface name too long";
		break;
	default:
		break; /* restore says which types it can't restore */
	}
	if (what) {
		pr_err("files.img: file %u (type %u) is %s\n", fe->id, fe->type, what);
		return bad();
	}
	return 0;
}

static int check_file_data(const struct img_set *s)
{
	for (size_t i = 0; i < s->nr_file_data; i++) {
		const FileDataEntry *d = s->file_data[i];
		ssize_t fi = img_set_file_idx(s, d->file_id);
		if (fi < 0 || (s->files[fi]->type != FILE_TYPE_SOCKET && s->files[fi]->type != FILE_TYPE_REG)) {
			pr_err("file-data.img: record %zu is for file %u, not a socket or a file of files.img\n", i,
			       d->file_id);
			return bad();
		}
		for (size_t k = 0; k < d->n_fds; k++)
			if (img_set_file_idx(s, d->fds[k]) < 0) {
				pr_err("file-data.img: record %zu carries file %u, which is not in files.img\n", i,
				       d->fds[k]);
				return bad();
			}
	}
	return 0;
}

static int check_files(const struct img_set *s)
{
	for (size_t i = 0; i < s->nr_files; i++) {
		const FileEntry *fe = s->files[i];
		if (img_set_file_idx(s, fe->id) != (ssize_t)i) {
			pr_err("files.img: file %u appears twice\n", fe->id);
			return bad();
		}
		if (check_file_entry(s, fe) < 0)
			return -1;
	}
	return 0;
}

/* ---- namespaces ---- */

static int load_ns(int dfd, struct img_set *s)
{
	cleanup_free struct img_ns_task *t = calloc(s->nr_tasks ? s->nr_tasks : 1, sizeof(*t));
	cleanup_free ShmemEntry **sh = calloc(s->nr_shmems ? s->nr_shmems : 1, sizeof(*sh));

	if (!t || !sh) {
		pr_perror("can't allocate the namespace checks");
		return -1;
	}
	for (size_t i = 0; i < s->nr_tasks; i++)
		t[i] = (struct img_ns_task){ s->tasks[i].pe->pid, s->tasks[i].pe->threads, s->tasks[i].pe->n_threads };
	for (size_t i = 0; i < s->nr_shmems; i++)
		sh[i] = s->shmems[i].se;
	return img_ns_load(dfd, t, s->nr_tasks, sh, s->nr_shmems, &s->ns);
}

/* ---- copy-on-write sharing ---- */

static bool anon_vma(const VmaEntry *v)
{
	return (v->kind == VMA_KIND_ANON_PRIVATE || v->kind == VMA_KIND_HEAP || v->kind == VMA_KIND_STACK) &&
	       !(v->has_status && (v->status & VMA_STATUS_GUARD));
}

static bool inherited(const VmaEntry *v)
{
	return v->has_status && (v->status & VMA_STATUS_INHERITED);
}

static const VmaEntry *vma_of(const MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (addr >= mm->vmas[i]->start && addr < mm->vmas[i]->end)
			return mm->vmas[i];
	return NULL;
}

/* No entry of a page set crosses the bounds of v (restore moves v alone). */
static bool entries_within(struct page_read *pr, const VmaEntry *v)
{
	for (size_t i = 0; i < pr->nr_entries; i++) {
		const PagemapEntry *e = pr->entries[i];
		uint64_t end = e->vaddr + (uint64_t)e->nr_pages * PAGE_SIZE;
		if (e->vaddr < v->end && end > v->start && (e->vaddr < v->start || end > v->end))
			return false;
	}
	return true;
}

/*
 * A VMA inherited from the parent (its pages PE_PARENT) has the parent's VMA of the same
 * range, private anonymous memory both; the parent stored every page the child takes
 * from it; no entry of either set crosses that range's bounds.
 */
static int check_cow_task(struct img_set *s, struct img_task *t)
{
	uint32_t pid = t->pe->pid;
	struct img_task *p = NULL;

	if (t->pe->ppid) {
		ssize_t pi = img_set_task_idx(s, t->pe->ppid);
		p = pi >= 0 ? &s->tasks[pi] : NULL;
	}
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		const VmaEntry *v = t->mm->vmas[i], *pv;
		if (!inherited(v))
			continue;
		pv = p && p->mm ? vma_of(p->mm, v->start) : NULL;
		if (!anon_vma(v) || !pv || pv->start != v->start || pv->end != v->end || !anon_vma(pv) ||
		    !t->has_pages || !p->has_pages || !entries_within(&t->pr, v) || !entries_within(&p->pr, v)) {
			pr_err("mm-%u.img: VMA %" PRIx64 " is inherited, but its parent has no such VMA with its pages "
			       "inside it\n", pid, v->start);
			return bad();
		}
	}
	for (size_t i = 0; t->has_pages && i < t->pr.nr_entries; i++) {
		const PagemapEntry *e = t->pr.entries[i];
		uint64_t end = e->vaddr + (uint64_t)e->nr_pages * PAGE_SIZE;
		const VmaEntry *v = vma_of(t->mm, e->vaddr);
		if (!(e->flags & PE_PARENT))
			continue;
		if (!v || !inherited(v) || end > v->end) {
			pr_err("pagemap-%u.img: the parent's pages at 0x%" PRIx64 " are not in an inherited VMA\n", pid,
			       e->vaddr);
			return bad();
		}
		for (uint64_t a = e->vaddr; a < end;) {
			const PagemapEntry *pe = page_read_find(&p->pr, a);
			if (!pe || !(pe->flags & PE_PRESENT)) {
				pr_err("pagemap-%u.img: the page at 0x%" PRIx64 " is the parent's, which did not store it\n",
				       pid, a);
				return bad();
			}
			a = MIN(end, pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE);
		}
	}
	return 0;
}

/* ---- the set ---- */

int img_set_load(int dfd, struct img_set *ret)
{
	struct img_set s = { 0 };
	PstreeEntry **pes = NULL;
	size_t n = 0;

	s.inv = img_read_inventory(dfd);
	if (!s.inv)
		return -1;
	{
		cleanup_img struct img *ps = img_open(dfd, IMG_PSTREE, O_RDONLY, 0);
		if (!ps || read_all_records(ps, (void ***)&pes, &n) < 0)
			goto err;
	}
	s.tasks = calloc(n ? n : 1, sizeof(*s.tasks));
	if (!s.tasks) {
		pr_perror("can't allocate tasks");
		for (size_t i = 0; i < n; i++)
			img_free_msg(NULL, pes[i]);
		free(pes);
		goto err;
	}
	for (size_t i = 0; i < n; i++)
		s.tasks[i].pe = pes[i];
	s.nr_tasks = n;
	free(pes);
	if (check_pstree(&s) < 0)
		goto err;
	if (read_optional(dfd, IMG_FILES, 0, (void ***)&s.files, &s.nr_files) < 0 || load_shmems(dfd, &s) < 0 ||
	    check_files(&s) < 0 ||
	    read_optional(dfd, IMG_FILE_DATA, 0, (void ***)&s.file_data, &s.nr_file_data) < 0 ||
	    check_file_data(&s) < 0)
		goto err;
	for (size_t i = 0; i < n; i++) {
		struct img_task *t = &s.tasks[i];
		if (load_task(dfd, t) < 0 || check_cores(t) < 0)
			goto err;
		if (!is_zombie(t->pe) && (check_mm(&s, t) < 0 || check_fds(&s, t) < 0 || check_timers(t) < 0))
			goto err;
	}
	for (size_t i = 0; i < n; i++) /* every task loaded: parents and children */
		if (!is_zombie(s.tasks[i].pe) && check_cow_task(&s, &s.tasks[i]) < 0)
			goto err;
	if (load_ns(dfd, &s) < 0)
		goto err;
	*ret = s;
	return 0;
err:
	img_set_free(&s);
	return -1;
}

void img_set_free(struct img_set *s)
{
	for (size_t i = 0; i < s->nr_tasks; i++) {
		struct img_task *t = &s->tasks[i];
		for (size_t k = 0; t->cores && k < t->pe->n_threads; k++)
			img_free_msg(NULL, t->cores[k]);
		free(t->cores);
		img_free_msg(NULL, t->task);
		img_free_msg(NULL, t->creds);
		img_free_msg(NULL, t->mm);
		for (size_t k = 0; k < t->nr_fds; k++)
			img_free_msg(NULL, t->fds[k]);
		free(t->fds);
		if (t->has_pages)
			page_read_close(&t->pr);
		img_free_msg(NULL, t->pe);
	}
	free(s->tasks);
	for (size_t i = 0; i < s->nr_files; i++)
		img_free_msg(NULL, s->files[i]);
	free(s->files);
	for (size_t i = 0; i < s->nr_file_data; i++)
		img_free_msg(NULL, s->file_data[i]);
	free(s->file_data);
	for (size_t i = 0; i < s->nr_shmems; i++) {
		if (s->shmems[i].has_pages)
			page_read_close(&s->shmems[i].pr);
		img_free_msg(NULL, s->shmems[i].se);
	}
	free(s->shmems);
	img_ns_free(&s->ns);
	img_free_msg(NULL, s->inv);
	memset(s, 0, sizeof(*s));
}

/* ---- a whole directory ---- */

/* Every record of a record image, or the header of a pages image; and the type its
 * name says is the type its magic says. */
static int check_file(int dfd, const char *name)
{
	cleanup_img struct img *img = img_open_path(dfd, name);
	int want = img_type_from_name(name), ret;
	void *msg;

	if (!img)
		return -1;
	if ((int)img_get_type(img) != want) {
		pr_err("%s: holds a %s image\n", name, img_type_name(img_get_type(img)));
		return bad();
	}
	if (want == IMG_PAGES)
		return 0;
	if (want == IMG_PAGEMAP) {
		/* a page set nobody uses (restore opens the ones it needs): check it all the same */
		struct page_read pr;
		char id[256];
		size_t plen = strlen("pagemap-"), n = strlen(name);
		if (n <= plen + 4 || n - plen - 4 >= sizeof(id)) {
			pr_err("%s: can't make the id of its page set\n", name);
			return bad();
		}
		memcpy(id, name + plen, n - plen - 4);
		id[n - plen - 4] = '\0';
		if (page_read_open(&pr, dfd, id, 0) < 0)
			return -1;
		page_read_close(&pr);
		return 0;
	}
	while ((ret = img_read(img, &msg)) > 0)
		img_free_msg(img, msg);
	return ret;
}

int img_check_dir(int dfd)
{
	struct img_set s;
	char **names = NULL;
	size_t nr = 0;
	int ret = -1;

	if (img_set_load(dfd, &s) < 0)
		return -1;
	img_set_free(&s);
	if (img_list_dir(dfd, &names, &nr) < 0)
		return -1;
	for (size_t i = 0; i < nr; i++)
		if (check_file(dfd, names[i]) < 0)
			goto out;
	ret = 0;
out:
	img_free_names(names, nr);
	return ret;
}

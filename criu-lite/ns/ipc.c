/* The IPC namespace (see ipc.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>

#define LOG_PREFIX "ns/ipc: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-shmem.h"
#include "criu-lite/ns/ipc.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef SHM_DEST
#define SHM_DEST 01000
#endif
#ifndef SHM_LOCKED
#define SHM_LOCKED 02000
#endif

/* The namespace's /proc/sys values, in the order they are restored. */
static const char *const ipc_vars[] = {
	"kernel/shmmax",	  "kernel/shmall",	       "kernel/shmmni",	      "kernel/shm_rmid_forced",
	"kernel/msgmax",	  "kernel/msgmnb",	       "kernel/msgmni",	      "kernel/sem",
	"fs/mqueue/queues_max",	  "fs/mqueue/msg_max",	       "fs/mqueue/msgsize_max", "fs/mqueue/msg_default",
	"fs/mqueue/msgsize_default",
};

#define MAX_MSG_SIZE (1u << 20)

struct ipc_shm {
	IpcPermEntry perm;
	uint64_t size;
	uint64_t shmem_id;
	bool locked;
};

struct ipc_sem {
	IpcPermEntry perm;
	uint32_t *values;
	size_t nr;
};

struct ipc_msgq {
	IpcPermEntry perm;
	uint64_t qbytes;
	IpcMsg *msgs;
	size_t nr;
};

struct ipc_dump {
	char *vars[ARRAY_SIZE(ipc_vars)];
	struct ipc_shm *shms;
	size_t nr_shms;
	struct ipc_sem *sems;
	size_t nr_sems;
	struct ipc_msgq *msgqs;
	size_t nr_msgqs;
	uint64_t last_shmid, last_end; /* the last System V VMA seen (ns_ipc_dump_vma) */
	bool has_last;
};

static void perm_of(IpcPermEntry *p, const struct ipc_perm *k, int id)
{
	ipc_perm_entry__init(p);
	p->key = (uint32_t)k->__key;
	p->id = (uint32_t)id;
	p->uid = k->uid;
	p->gid = k->gid;
	p->cuid = k->cuid;
	p->cgid = k->cgid;
	p->mode = k->mode;
}

static void *grow(void *v, size_t nr, size_t size)
{
	void *n = realloc(v, (nr + 1) * size);
	if (!n)
		pr_perror("can't grow a System V object list");
	return n;
}

static int collect_shm(struct dump_ctx *ctx, struct ipc_dump *d)
{
	struct shm_info info;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);

	if (max < 0) {
		pr_perror("SHM_INFO");
		return -1;
	}
	for (int idx = 0; idx <= max; idx++) {
		struct shmid_ds ds;
		char path[96], name[32];
		struct ipc_shm *s;
		void *p;
		int id = shmctl(idx, SHM_STAT, &ds), fd;

		if (id < 0)
			continue;
		s = grow(d->shms, d->nr_shms, sizeof(*d->shms));
		if (!s)
			return -1;
		d->shms = s;
		s = &d->shms[d->nr_shms];
		memset(s, 0, sizeof(*s));
		perm_of(&s->perm, &ds.shm_perm, id);
		s->size = ds.shm_segsz;
		s->locked = ds.shm_perm.mode & SHM_LOCKED;
		/* its memory, through an attach of our own */
		p = shmat(id, NULL, SHM_RDONLY);
		if (p == (void *)-1) {
			pr_perror("can't attach System V segment %d to read it", id);
			return -1;
		}
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
			 (unsigned long)p + ALIGN_UP((unsigned long)ds.shm_segsz, PAGE_SIZE));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			pr_perror("can't open System V segment %d through %s", id, path);
		shmdt(p);
		if (fd < 0)
			return -1;
		snprintf(name, sizeof(name), "/SYSV%08x", (uint32_t)ds.shm_perm.__key);
		if (dump_shmem_add(ctx, fd, SHMEM_KIND_SYSV, name, false, ds.shm_segsz, &s->shmem_id) < 0)
			return -1;
		d->nr_shms++;
		pr_info("System V segment %d: key 0x%x, %zu bytes, mode 0%o, %lu attached: shmem %" PRIu64 "\n", id,
			s->perm.key, (size_t)ds.shm_segsz, s->perm.mode, (unsigned long)ds.shm_nattch, s->shmem_id);
	}
	return 0;
}

static int collect_sem(struct ipc_dump *d)
{
	struct seminfo info;
	int max = semctl(0, 0, SEM_INFO, &info);

	if (max < 0) {
		pr_perror("SEM_INFO");
		return -1;
	}
	for (int idx = 0; idx <= max; idx++) {
		struct semid_ds ds;
		struct ipc_sem *s;
		cleanup_free unsigned short *vals = NULL;
		int id = semctl(idx, 0, SEM_STAT, &ds);

		if (id < 0)
			continue;
		s = grow(d->sems, d->nr_sems, sizeof(*d->sems));
		if (!s)
			return -1;
		d->sems = s;
		s = &d->sems[d->nr_sems];
		memset(s, 0, sizeof(*s));
		perm_of(&s->perm, &ds.sem_perm, id);
		vals = calloc(ds.sem_nsems ? ds.sem_nsems : 1, sizeof(*vals));
		s->values = calloc(ds.sem_nsems ? ds.sem_nsems : 1, sizeof(*s->values));
		d->nr_sems++;
		if (!vals || !s->values) {
			pr_perror("can't allocate semaphore values");
			return -1;
		}
		if (semctl(id, 0, GETALL, vals) < 0) {
			pr_perror("can't read the values of semaphore set %d", id);
			return -1;
		}
		for (size_t i = 0; i < ds.sem_nsems; i++)
			s->values[i] = vals[i];
		s->nr = ds.sem_nsems;
		pr_info("System V semaphore set %d: key 0x%x, %zu semaphores\n", id, s->perm.key, s->nr);
	}
	return 0;
}

static int collect_msg(struct ipc_dump *d)
{
	struct msginfo info;
	int max = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
	cleanup_free char *buf = malloc(sizeof(long) + MAX_MSG_SIZE);

	if (max < 0 || !buf) {
		pr_perror("MSG_INFO");
		return -1;
	}
	for (int idx = 0; idx <= max; idx++) {
		struct msqid_ds ds;
		struct ipc_msgq *q;
		int id = msgctl(idx, MSG_STAT, &ds);

		if (id < 0)
			continue;
		q = grow(d->msgqs, d->nr_msgqs, sizeof(*d->msgqs));
		if (!q)
			return -1;
		d->msgqs = q;
		q = &d->msgqs[d->nr_msgqs];
		memset(q, 0, sizeof(*q));
		perm_of(&q->perm, &ds.msg_perm, id);
		q->qbytes = ds.msg_qbytes;
		q->msgs = calloc(ds.msg_qnum ? ds.msg_qnum : 1, sizeof(*q->msgs));
		d->nr_msgqs++;
		if (!q->msgs) {
			pr_perror("can't allocate messages");
			return -1;
		}
		for (size_t n = 0; n < ds.msg_qnum; n++) {
			/* a copy of message n, left in the queue */
			ssize_t len = msgrcv(id, buf, MAX_MSG_SIZE, (long)n, IPC_NOWAIT | MSG_COPY | MSG_NOERROR);
			IpcMsg *m = &q->msgs[n];
			if (len < 0) {
				pr_perror("can't copy message %zu of System V queue %d (MSG_COPY)", n, id);
				return -1;
			}
			ipc_msg__init(m);
			memcpy(&m->mtype, buf, sizeof(long));
			m->mtext.data = malloc(len ? (size_t)len : 1);
			if (!m->mtext.data) {
				pr_perror("can't allocate a message");
				return -1;
			}
			memcpy(m->mtext.data, buf + sizeof(long), (size_t)len);
			m->mtext.len = (size_t)len;
			q->nr++;
		}
		pr_info("System V message queue %d: key 0x%x, %zu messages\n", id, q->perm.key, q->nr);
	}
	return 0;
}

int ns_ipc_collect(struct dump_ctx *ctx, pid_t pid, struct ipc_dump **ret)
{
	struct ipc_dump *d = calloc(1, sizeof(*d));
	struct ns_back back;
	int r = -1;

	if (!d) {
		pr_perror("can't allocate the ipc dump");
		return -1;
	}
	if (ns_enter(pid, NS_KIND_IPC, &back) < 0) {
		free(d);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ipc_vars); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/proc/sys/%s", ipc_vars[i]);
		if (access(path, F_OK) < 0)
			continue; /* not on this kernel */
		d->vars[i] = ns_sysctl_get(ipc_vars[i]);
		if (!d->vars[i])
			goto out;
	}
	if (collect_shm(ctx, d) < 0 || collect_sem(d) < 0 || collect_msg(d) < 0)
		goto out;
	r = 0;
out:
	if (ns_return(&back) < 0)
		r = -1;
	if (r < 0)
		ns_ipc_free(d);
	else
		*ret = d;
	return r;
}

int ns_ipc_dump_vma(struct dump_ctx *ctx, struct ipc_dump *ipc, pid_t pid, uint64_t start, uint64_t end,
		    uint64_t pgoff, uint64_t shmid, int fd, uint64_t *ret_shmem_id)
{
	const struct ipc_shm *s = NULL;

	for (size_t i = 0; ipc && i < ipc->nr_shms; i++)
		if (ipc->shms[i].perm.id == shmid)
			s = &ipc->shms[i];
	if (!s) {
		close(fd);
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " is System V segment %" PRIu64 " of an IPC namespace "
		       "the tree does not own: it is outside the dumped tree\n", pid, start, end, shmid);
		errno = ENOTSUP;
		return -1;
	}
	/* restore attaches a whole segment with shmat(); the pieces of one attach follow
	 * each other (mprotect splits), any other layout can't be made again */
	if (pgoff && !(ipc->has_last && ipc->last_shmid == shmid && ipc->last_end == start)) {
		close(fd);
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " maps System V segment %" PRIu64 " from offset %" PRIu64
		       " only: a partial attach can't be restored\n", pid, start, end, shmid, pgoff);
		errno = ENOTSUP;
		return -1;
	}
	ipc->has_last = true;
	ipc->last_shmid = shmid;
	ipc->last_end = end;
	if (dump_shmem_add(ctx, fd, SHMEM_KIND_SYSV, "/SYSV", false, 0, ret_shmem_id) < 0)
		return -1;
	for (size_t i = 0; i < ctx->nr_shmems; i++)
		if (ctx->shmems[i].id == *ret_shmem_id)
			ctx->shmems[i].mapped = true; /* served lazily (dump-shmem.c) */
	return 0;
}

int ns_ipc_write(const struct ipc_dump *d, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsIpcEntry ie = NS_IPC_ENTRY__INIT;
	NsSysctlEntry vars[ARRAY_SIZE(ipc_vars)], *pvars[ARRAY_SIZE(ipc_vars)];
	cleanup_free IpcShmEntry *shm = calloc(d->nr_shms + 1, sizeof(*shm));
	cleanup_free IpcShmEntry **pshm = calloc(d->nr_shms + 1, sizeof(*pshm));
	cleanup_free IpcSemEntry *sem = calloc(d->nr_sems + 1, sizeof(*sem));
	cleanup_free IpcSemEntry **psem = calloc(d->nr_sems + 1, sizeof(*psem));
	cleanup_free IpcMsgEntry *msg = calloc(d->nr_msgqs + 1, sizeof(*msg));
	cleanup_free IpcMsgEntry **pmsg = calloc(d->nr_msgqs + 1, sizeof(*pmsg));
	IpcMsg ***msgs = calloc(d->nr_msgqs + 1, sizeof(*msgs));
	int ret = -1;

	if (!shm || !pshm || !sem || !psem || !msg || !pmsg || !msgs) {
		pr_perror("can't allocate the ipc image");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ipc_vars); i++) {
		if (!d->vars[i])
			continue;
		ns_sysctl_entry__init(&vars[ie.n_vars]);
		vars[ie.n_vars].name = (char *)ipc_vars[i];
		vars[ie.n_vars].value = d->vars[i];
		pvars[ie.n_vars] = &vars[ie.n_vars];
		ie.n_vars++;
	}
	ie.vars = pvars;
	for (size_t i = 0; i < d->nr_shms; i++) {
		ipc_shm_entry__init(&shm[i]);
		shm[i].perm = (IpcPermEntry *)&d->shms[i].perm;
		shm[i].size = d->shms[i].size;
		shm[i].shmem_id = d->shms[i].shmem_id;
		shm[i].has_locked = true;
		shm[i].locked = d->shms[i].locked;
		pshm[i] = &shm[i];
	}
	ie.shms = pshm;
	ie.n_shms = d->nr_shms;
	for (size_t i = 0; i < d->nr_sems; i++) {
		ipc_sem_entry__init(&sem[i]);
		sem[i].perm = (IpcPermEntry *)&d->sems[i].perm;
		sem[i].values = d->sems[i].values;
		sem[i].n_values = d->sems[i].nr;
		psem[i] = &sem[i];
	}
	ie.sems = psem;
	ie.n_sems = d->nr_sems;
	for (size_t i = 0; i < d->nr_msgqs; i++) {
		ipc_msg_entry__init(&msg[i]);
		msg[i].perm = (IpcPermEntry *)&d->msgqs[i].perm;
		msg[i].qbytes = d->msgqs[i].qbytes;
		msgs[i] = calloc(d->msgqs[i].nr + 1, sizeof(IpcMsg *));
		if (!msgs[i]) {
			pr_perror("can't allocate the ipc image");
			goto out;
		}
		for (size_t k = 0; k < d->msgqs[i].nr; k++)
			msgs[i][k] = &d->msgqs[i].msgs[k];
		msg[i].msgs = msgs[i];
		msg[i].n_msgs = d->msgqs[i].nr;
		pmsg[i] = &msg[i];
	}
	ie.msgs = pmsg;
	ie.n_msgs = d->nr_msgqs;
	ne.kind = NS_KIND_IPC;
	ne.has_ino = true;
	ne.ino = ino;
	ne.ipc = &ie;
	ret = img_write(img, &ne);
out:
	for (size_t i = 0; msgs && i < d->nr_msgqs; i++)
		free(msgs[i]);
	free(msgs);
	return ret;
}

void ns_ipc_free(struct ipc_dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(ipc_vars); i++)
		free(d->vars[i]);
	free(d->shms);
	for (size_t i = 0; i < d->nr_sems; i++)
		free(d->sems[i].values);
	free(d->sems);
	for (size_t i = 0; i < d->nr_msgqs; i++) {
		for (size_t k = 0; k < d->msgqs[i].nr; k++)
			free(d->msgqs[i].msgs[k].mtext.data);
		free(d->msgqs[i].msgs);
	}
	free(d->msgqs);
	free(d);
}

/* ---- restore ---- */

/* The next object of a kind gets this id ("kernel/shm_next_id"). */
static int set_next_id(const char *var, uint32_t id, char *err, size_t errlen)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", id);
	if (ns_sysctl_set(var, v) < 0) {
		ns_set_err(err, errlen, "can't set %s to %u: %s", var, id, strerror(errno));
		return -1;
	}
	return 0;
}

/* Create the object as its creator (cuid/cgid), then its owner and mode. */
struct as_creator {
	uid_t euid;
	gid_t egid;
};

static int become_creator(const IpcPermEntry *p, struct as_creator *saved, char *err, size_t errlen)
{
	saved->euid = geteuid();
	saved->egid = getegid();
	if (setresgid(-1, p->cgid, -1) < 0 || setresuid(-1, p->cuid, -1) < 0) {
		ns_set_err(err, errlen, "can't become the creator %u:%u of System V object %u: %s", p->cuid, p->cgid,
			   p->id, strerror(errno));
		setresgid(-1, saved->egid, -1);
		return -1;
	}
	return 0;
}

static int back_from_creator(const struct as_creator *saved, char *err, size_t errlen)
{
	if (setresuid(-1, saved->euid, -1) < 0 || setresgid(-1, saved->egid, -1) < 0) {
		ns_set_err(err, errlen, "can't switch back to uid %u: %s", saved->euid, strerror(errno));
		return -1;
	}
	return 0;
}

static int check_id(const char *what, int got, const IpcPermEntry *p, char *err, size_t errlen)
{
	if (got < 0) {
		ns_set_err(err, errlen, "can't create System V %s %u (key 0x%x): %s", what, p->id, p->key,
			   strerror(errno));
		return -1;
	}
	if ((uint32_t)got != p->id) {
		ns_set_err(err, errlen, "System V %s %u came back as %d", what, p->id, got);
		return -1;
	}
	return 0;
}

static int restore_shm(struct rst_ctx *ctx, const IpcShmEntry *s, int *ret_fd, char *err, size_t errlen)
{
	const IpcPermEntry *p = s->perm;
	struct as_creator saved;
	struct shmid_ds ds;
	char path[96];
	void *addr;
	int id, fd;

	if (set_next_id("kernel/shm_next_id", p->id, err, errlen) < 0 || become_creator(p, &saved, err, errlen) < 0)
		return -1;
	id = shmget(p->key, s->size, IPC_CREAT | IPC_EXCL | (p->mode & 0777));
	if (back_from_creator(&saved, err, errlen) < 0 || check_id("segment", id, p, err, errlen) < 0)
		return -1;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = p->uid;
	ds.shm_perm.gid = p->gid;
	ds.shm_perm.mode = p->mode & 0777;
	if (shmctl(id, IPC_SET, &ds) < 0 || (s->has_locked && s->locked && shmctl(id, SHM_LOCK, NULL) < 0)) {
		ns_set_err(err, errlen, "can't set the owner, mode or lock of System V segment %d: %s", id,
			   strerror(errno));
		return -1;
	}
	/* its shmem object, to fill (or to hand to lazy-pages) like any other */
	addr = shmat(id, NULL, 0);
	if (addr == (void *)-1) {
		ns_set_err(err, errlen, "can't attach System V segment %d: %s", id, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)addr + ALIGN_UP((unsigned long)s->size, PAGE_SIZE));
	fd = openat(ctx->ns->host_proc, path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		ns_set_err(err, errlen, "can't open System V segment %d through /proc/%s: %s", id, path,
			   strerror(errno));
	shmdt(addr);
	if (fd < 0)
		return -1;
	/* a service fd (above the tree's own fds), closed by the restorer */
	*ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, ctx->svc_base);
	close(fd);
	if (*ret_fd < 0) {
		ns_set_err(err, errlen, "can't keep the fd of System V segment %d", id);
		return -1;
	}
	return 0;
}

static int restore_sem(const IpcSemEntry *s, char *err, size_t errlen)
{
	const IpcPermEntry *p = s->perm;
	struct as_creator saved;
	struct semid_ds ds;
	cleanup_free unsigned short *vals = calloc(s->n_values, sizeof(*vals));
	int id;

	if (!vals) {
		ns_set_err(err, errlen, "out of memory");
		return -1;
	}
	if (set_next_id("kernel/sem_next_id", p->id, err, errlen) < 0 || become_creator(p, &saved, err, errlen) < 0)
		return -1;
	id = semget(p->key, (int)s->n_values, IPC_CREAT | IPC_EXCL | (p->mode & 0777));
	if (back_from_creator(&saved, err, errlen) < 0 || check_id("semaphore set", id, p, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < s->n_values; i++)
		vals[i] = (unsigned short)s->values[i];
	memset(&ds, 0, sizeof(ds));
	ds.sem_perm.uid = p->uid;
	ds.sem_perm.gid = p->gid;
	ds.sem_perm.mode = p->mode & 0777;
	if (semctl(id, 0, SETALL, vals) < 0 || semctl(id, 0, IPC_SET, &ds) < 0) {
		ns_set_err(err, errlen, "can't set the values, owner or mode of System V semaphore set %d: %s", id,
			   strerror(errno));
		return -1;
	}
	return 0;
}

static int restore_msg(const IpcMsgEntry *q, char *err, size_t errlen)
{
	const IpcPermEntry *p = q->perm;
	struct as_creator saved;
	struct msqid_ds ds;
	int id;

	if (set_next_id("kernel/msg_next_id", p->id, err, errlen) < 0 || become_creator(p, &saved, err, errlen) < 0)
		return -1;
	id = msgget(p->key, IPC_CREAT | IPC_EXCL | (p->mode & 0777));
	if (back_from_creator(&saved, err, errlen) < 0 || check_id("message queue", id, p, err, errlen) < 0)
		return -1;
	if (msgctl(id, IPC_STAT, &ds) < 0) {
		ns_set_err(err, errlen, "IPC_STAT of System V message queue %d: %s", id, strerror(errno));
		return -1;
	}
	/* room for everything first (the queue may have been filled beyond what the
	 * owner may set later), the owner and mode last */
	ds.msg_qbytes = q->qbytes;
	if (msgctl(id, IPC_SET, &ds) < 0) {
		ns_set_err(err, errlen, "can't set the size (%" PRIu64 " bytes) of System V message queue %d: %s",
			   q->qbytes, id, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < q->n_msgs; i++) {
		const IpcMsg *m = q->msgs[i];
		cleanup_free char *buf = malloc(sizeof(long) + m->mtext.len);
		long type = (long)m->mtype;
		if (!buf) {
			ns_set_err(err, errlen, "out of memory");
			return -1;
		}
		memcpy(buf, &type, sizeof(long));
		memcpy(buf + sizeof(long), m->mtext.data, m->mtext.len);
		if (msgsnd(id, buf, m->mtext.len, IPC_NOWAIT) < 0) {
			ns_set_err(err, errlen, "can't queue message %zu on System V queue %d: %s", i, id,
				   strerror(errno));
			return -1;
		}
	}
	ds.msg_perm.uid = p->uid;
	ds.msg_perm.gid = p->gid;
	ds.msg_perm.mode = p->mode & 0777;
	if (msgctl(id, IPC_SET, &ds) < 0) {
		ns_set_err(err, errlen, "can't set the owner or mode of System V message queue %d: %s", id,
			   strerror(errno));
		return -1;
	}
	return 0;
}

int ns_ipc_restore(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t errlen)
{
	const NsIpcEntry *ipc = e->ipc;

	for (size_t i = 0; i < ipc->n_vars; i++) {
		const NsSysctlEntry *v = ipc->vars[i];
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(ipc_vars) && !known; k++)
			known = !strcmp(v->name, ipc_vars[k]);
		if (!known) {
			ns_set_err(err, errlen, "ns.img: %s is no IPC namespace value", v->name);
			return -1;
		}
		if (ns_sysctl_set(v->name, v->value) < 0) {
			ns_set_err(err, errlen, "can't set %s to '%s': %s", v->name, v->value, strerror(errno));
			return -1;
		}
	}
	ctx->ns->shm_fds = malloc((ipc->n_shms + 1) * sizeof(int));
	if (!ctx->ns->shm_fds) {
		ns_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < ipc->n_shms; i++)
		ctx->ns->shm_fds[i] = -1;
	for (size_t i = 0; i < ipc->n_shms; i++)
		if (restore_shm(ctx, ipc->shms[i], &ctx->ns->shm_fds[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < ipc->n_sems; i++)
		if (restore_sem(ipc->sems[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < ipc->n_msgs; i++)
		if (restore_msg(ipc->msgs[i], err, errlen) < 0)
			return -1;
	return 0;
}

static ssize_t shm_index(const struct rst_ctx *ctx, uint64_t shmem_id)
{
	const NsEntry *e = ctx->img.ns.kinds[NS_KIND_IPC];

	for (size_t i = 0; e && e->ipc && i < e->ipc->n_shms; i++)
		if (e->ipc->shms[i]->shmem_id == shmem_id)
			return (ssize_t)i;
	return -1;
}

int ns_ipc_shmid(const struct rst_ctx *ctx, uint64_t shmem_id)
{
	ssize_t i = shm_index(ctx, shmem_id);
	return i < 0 ? -1 : (int)ctx->img.ns.kinds[NS_KIND_IPC]->ipc->shms[i]->perm->id;
}

int ns_ipc_shm_fd(const struct rst_ctx *ctx, uint64_t shmem_id)
{
	ssize_t i = shm_index(ctx, shmem_id);
	return i < 0 || !ctx->ns || !ctx->ns->shm_fds ? -1 : ctx->ns->shm_fds[i];
}

int ns_ipc_finish(const struct rst_ctx *ctx, const NsEntry *e, pid_t root)
{
	struct ns_back back;
	bool any = false;
	int ret = 0;

	(void)ctx;
	for (size_t i = 0; i < e->ipc->n_shms; i++)
		any |= (e->ipc->shms[i]->perm->mode & SHM_DEST) != 0;
	if (!any)
		return 0;
	if (ns_enter(root, NS_KIND_IPC, &back) < 0)
		return -1;
	for (size_t i = 0; i < e->ipc->n_shms; i++) {
		const IpcPermEntry *p = e->ipc->shms[i]->perm;
		if ((p->mode & SHM_DEST) && shmctl((int)p->id, IPC_RMID, NULL) < 0) {
			pr_perror("can't remove System V segment %u (removed while attached at dump)", p->id);
			ret = -1;
		}
	}
	if (ns_return(&back) < 0)
		ret = -1;
	return ret;
}

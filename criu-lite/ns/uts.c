/* The UTS namespace (see uts.h). */
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define LOG_PREFIX "ns/uts: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/uts.h"

int ns_uts_dump(pid_t pid, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsUtsEntry ue = NS_UTS_ENTRY__INIT;
	struct ns_back back;
	struct utsname u;
	int r;

	if (ns_enter(pid, NS_KIND_UTS, &back) < 0)
		return -1;
	r = uname(&u);
	if (ns_return(&back) < 0)
		return -1;
	if (r < 0) {
		pr_perror("uname in the UTS namespace of pid %d", pid);
		return -1;
	}
	ue.nodename = u.nodename;
	ue.domainname = u.domainname;
	ne.kind = NS_KIND_UTS;
	ne.has_ino = true;
	ne.ino = ino;
	ne.uts = &ue;
	pr_info("UTS namespace: host name '%s', domain name '%s'\n", u.nodename, u.domainname);
	return img_write(img, &ne);
}

int ns_uts_restore(const NsEntry *e, char *err, size_t errlen)
{
	const NsUtsEntry *u = e->uts;

	if (sethostname(u->nodename, strlen(u->nodename)) < 0) {
		ns_set_err(err, errlen, "can't set the host name '%s': %s", u->nodename, strerror(errno));
		return -1;
	}
	if (setdomainname(u->domainname, strlen(u->domainname)) < 0) {
		ns_set_err(err, errlen, "can't set the domain name '%s': %s", u->domainname, strerror(errno));
		return -1;
	}
	return 0;
}

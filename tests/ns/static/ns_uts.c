/*
 * A container with its own UTS namespace (nsrun --ns pid,mnt,uts): a host name and a
 * domain name of its own, kept across the restore (uname and /proc/sys/kernel).
 */
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ztest.h"

static const char host[] = "zt-container-host";
static const char domain[] = "zt.example";

int main(int argc, char **argv)
{
	struct utsname u;
	char *s;

	test_init(argc, argv);
	if (sethostname(host, strlen(host)) < 0 || setdomainname(domain, strlen(domain)) < 0)
		fail("sethostname/setdomainname");
	test_ready();
	test_waitsig();
	if (test_self_fail)
		sethostname("corrupt", 7);
	if (uname(&u) < 0)
		fail("uname");
	if (strcmp(u.nodename, host))
		test_err("host name '%s', was '%s'", u.nodename, host);
	if (strcmp(u.domainname, domain))
		test_err("domain name '%s', was '%s'", u.domainname, domain);
	s = zt_read_file("/proc/sys/kernel/hostname", NULL);
	if (!s || strncmp(s, host, strlen(host)))
		test_err("/proc/sys/kernel/hostname is '%s'", s ? s : "?");
	test_result();
}

/*
 * LD_PRELOAD shim for Janus on loopback only (tests/peers/janus.py).
 * Janus skips interfaces flagged IFF_LOOPBACK when it gathers ICE host
 * candidates; with this flag cleared in getifaddrs() (for the Janus process
 * only) and ice_enforce_list = "127.0.0.1", 127.0.0.1 is its one candidate.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>

typedef int (*getifaddrs_fn)(struct ifaddrs **);

int getifaddrs(struct ifaddrs **ifap) {
	static getifaddrs_fn next = NULL;
	if(next == NULL)
		next = (getifaddrs_fn)dlsym(RTLD_NEXT, "getifaddrs");
	if(next == NULL)
		return -1;
	int rc = next(ifap);
	if(rc == 0 && ifap != NULL)
		for(struct ifaddrs *it = *ifap; it != NULL; it = it->ifa_next)
			it->ifa_flags &= ~IFF_LOOPBACK;
	return rc;
}

/* The guest network over rtnetlink: the guest has no iproute2, so the agent
 * speaks NETLINK_ROUTE itself. A NIC is found by its MAC (the host gives
 * QEMU the veth's MAC): guest names are the kernel's (eth0, eth1…), not the
 * host's. UpdateInterface renames the NIC, sets its MTU, brings it up and
 * replaces its addresses; UpdateRoutes replaces the routes of the main table
 * (those the kernel made for addresses stay). Every field of a request is
 * checked before anything changes, so a bad request leaves the network as it
 * was. One netlink socket per RPC, blocking with a timeout: the kernel
 * answers at once, and the agent has nothing else to do meanwhile. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "net.h"
#include "util.h"

#define REQ(type, var) const type *var = (const type *)msg

/* --- netlink plumbing ------------------------------------------------- */

struct nl {
	int fd;
	uint32_t seq;
	char ext[256]; /* the kernel's extended-ack message for the last error */
};

/* One request: header, family header and a few small attributes. */
struct nl_msg {
	union {
		struct nlmsghdr h;
		char buf[1024];
	};
	bool overflow;
};

static int nl__open(struct nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return -errno;
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int err = -errno;
		close(nl->fd);
		nl->fd = -1;
		return err;
	}
	/* Extended acks name what the kernel disliked; older kernels lack them. */
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return 0;
}

static void nl__close(struct nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/* Starts a request of type with its family header hdr; returns the copy. */
static void *nl_msg__init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = NLMSG_LENGTH(len);
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(NLMSG_DATA(&m->h), hdr, len);
	return NLMSG_DATA(&m->h);
}

static void nl_msg__attr(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->h.nlmsg_len);
	struct rtattr *a = (struct rtattr *)(m->buf + off);

	if (off + RTA_SPACE(len) > sizeof(m->buf)) {
		m->overflow = true;
		return;
	}
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	m->h.nlmsg_len = off + RTA_ALIGN(a->rta_len);
}

static void nl_msg__u32(struct nl_msg *m, uint16_t type, uint32_t v)
{
	nl_msg__attr(m, type, &v, sizeof(v));
}

/* Points tb[type] at each attribute of [p, p + len) (type <= max). */
static void attrs__parse(const void *p, size_t len, const struct rtattr **tb, size_t max)
{
	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (len >= sizeof(struct rtattr)) {
		const struct rtattr *a = p;
		size_t step = RTA_ALIGN(a->rta_len);
		unsigned type = a->rta_type & NLA_TYPE_MASK;

		if (a->rta_len < sizeof(*a) || a->rta_len > len)
			return;
		if (type <= max)
			tb[type] = a;
		if (step >= len)
			return;
		p = (const char *)p + step;
		len -= step;
	}
}

static size_t attr__len(const struct rtattr *a)
{
	return a->rta_len - RTA_LENGTH(0);
}

/* Keeps the kernel's NLMSGERR_ATTR_MSG of an error message, if any. */
static void nl__ext_ack(struct nl *nl, const struct nlmsghdr *h, const struct nlmsgerr *e)
{
	size_t off = NLMSG_LENGTH(sizeof(*e)), len;
	const struct rtattr *tb[NLMSGERR_ATTR_MAX + 1];

	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || off >= h->nlmsg_len)
		return;
	attrs__parse((const char *)h + off, h->nlmsg_len - off, tb, NLMSGERR_ATTR_MAX);
	if (!tb[NLMSGERR_ATTR_MSG] || !(len = attr__len(tb[NLMSGERR_ATTR_MSG])))
		return;
	snprintf(nl->ext, sizeof(nl->ext), "%.*s", (int)len, (const char *)RTA_DATA(tb[NLMSGERR_ATTR_MSG]));
}

/* Sends m and reads the answers: each message of a dump goes to cb; ends at
 * NLMSG_DONE or the ack. 0, the kernel's -errno, or cb's first error. */
static int nl__talk(struct nl *nl, struct nl_msg *m, int (*cb)(const struct nlmsghdr *, void *), void *arg)
{
	/* Static: the agent is single-threaded, and 32 KiB holds a dump batch. */
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int cb_err = 0;

	if (m->overflow)
		return -EMSGSIZE;
	m->h.nlmsg_seq = ++nl->seq;
	/* NLM_F_REPLACE shares a bit with the dump flags: compare all of them. */
	if ((m->h.nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		m->h.nlmsg_flags |= NLM_F_ACK;
	nl->ext[0] = 0;
	if (send(nl->fd, &m->h, m->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl->fd, buf, sizeof(buf), 0);
		size_t left;
		const char *p = buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno; /* EAGAIN: no answer within the timeout */
		for (left = n; left >= sizeof(struct nlmsghdr);) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)p;
			size_t step = NLMSG_ALIGN(h->nlmsg_len);

			if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > left)
				return -EBADMSG;
			if (h->nlmsg_seq == nl->seq) {
				if (h->nlmsg_type == NLMSG_DONE)
					return cb_err;
				if (h->nlmsg_type == NLMSG_ERROR) {
					const struct nlmsgerr *e = NLMSG_DATA(h);

					if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
						return -EBADMSG;
					if (e->error)
						nl__ext_ack(nl, h, e);
					return e->error ? e->error : cb_err;
				}
				if (cb && !cb_err)
					cb_err = cb(h, arg);
			}
			if (step >= left)
				break;
			p += step;
			left -= step;
		}
	}
}

/* --- what the kernel has: links, addresses, routes ------------------- */

struct vec {
	void *items;
	size_t n, cap;
};

/* A zeroed new last element, or NULL without memory. */
static void *vec__push(struct vec *v, size_t size)
{
	void *slot;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		void *p = realloc(v->items, cap * size);

		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	slot = (char *)v->items + v->n++ * size;
	memset(slot, 0, size);
	return slot;
}

struct link {
	int index;
	unsigned flags;
	unsigned mtu;
	char name[IFNAMSIZ];
	char mac[18]; /* lower-case "aa:bb:…"; "" without a 6-byte address */
};

struct addr {
	struct nlmsghdr *raw; /* the dump message: sent back to delete it */
	int index;
	int family;
	unsigned scope;
	char text[INET6_ADDRSTRLEN];
	char mask[4];
};

struct route {
	struct nlmsghdr *raw;
	int family;
	int oif;
	unsigned scope, protocol;
	char dst[INET6_ADDRSTRLEN + 4]; /* "a/n"; "" = default */
	char gw[INET6_ADDRSTRLEN];
	char src[INET6_ADDRSTRLEN];
};

struct net_view {
	struct vec links, addrs, routes;
};

#define VIEW_LINKS 1
#define VIEW_ADDRS 2
#define VIEW_ROUTES 4

static struct link *view__link(const struct net_view *v, size_t i)
{
	return (struct link *)v->links.items + i;
}

static struct addr *view__addr(const struct net_view *v, size_t i)
{
	return (struct addr *)v->addrs.items + i;
}

static struct route *view__route(const struct net_view *v, size_t i)
{
	return (struct route *)v->routes.items + i;
}

static void view__free(struct net_view *v)
{
	for (size_t i = 0; i < v->addrs.n; i++)
		free(view__addr(v, i)->raw);
	for (size_t i = 0; i < v->routes.n; i++)
		free(view__route(v, i)->raw);
	free(v->links.items);
	free(v->addrs.items);
	free(v->routes.items);
	memset(v, 0, sizeof(*v));
}

static struct nlmsghdr *raw__copy(const struct nlmsghdr *h)
{
	struct nlmsghdr *c = malloc(h->nlmsg_len);

	if (c)
		memcpy(c, h, h->nlmsg_len);
	return c;
}

static void ip__text(int family, const struct rtattr *a, char *out, size_t cap)
{
	out[0] = 0;
	if (a && attr__len(a) == (family == AF_INET ? 4u : 16u))
		inet_ntop(family, RTA_DATA(a), out, cap);
}

static int link__from_msg(const struct nlmsghdr *h, void *arg)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1];
	struct link *l;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	attrs__parse(IFLA_RTA(ifi), IFLA_PAYLOAD(h), tb, IFLA_MAX);
	if (!(l = vec__push(&((struct net_view *)arg)->links, sizeof(*l))))
		return -ENOMEM;
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%.*s", (int)attr__len(tb[IFLA_IFNAME]),
			 (const char *)RTA_DATA(tb[IFLA_IFNAME]));
	if (tb[IFLA_MTU] && attr__len(tb[IFLA_MTU]) == 4)
		memcpy(&l->mtu, RTA_DATA(tb[IFLA_MTU]), 4);
	if (tb[IFLA_ADDRESS] && attr__len(tb[IFLA_ADDRESS]) == 6) {
		const unsigned char *b = RTA_DATA(tb[IFLA_ADDRESS]);
		snprintf(l->mac, sizeof(l->mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
			 b[5]);
	}
	return 0;
}

static int addr__from_msg(const struct nlmsghdr *h, void *arg)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1];
	struct addr *a;

	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return 0;
	attrs__parse(IFA_RTA(ifa), IFA_PAYLOAD(h), tb, IFA_MAX);
	if (!(a = vec__push(&((struct net_view *)arg)->addrs, sizeof(*a))))
		return -ENOMEM;
	if (!(a->raw = raw__copy(h)))
		return -ENOMEM;
	a->index = ifa->ifa_index;
	a->family = ifa->ifa_family;
	a->scope = ifa->ifa_scope;
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer on a point-to-point link. */
	ip__text(a->family, tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], a->text, sizeof(a->text));
	snprintf(a->mask, sizeof(a->mask), "%u", ifa->ifa_prefixlen);
	return 0;
}

static int route__from_msg(const struct nlmsghdr *h, void *arg)
{
	const struct rtmsg *rt = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_MAX + 1];
	unsigned table;
	struct route *r;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)) ||
	    (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6))
		return 0;
	attrs__parse(RTM_RTA(rt), RTM_PAYLOAD(h), tb, RTA_MAX);
	table = rt->rtm_table;
	if (tb[RTA_TABLE] && attr__len(tb[RTA_TABLE]) == 4)
		memcpy(&table, RTA_DATA(tb[RTA_TABLE]), 4);
	/* The local and broadcast routes of the local table are the kernel's. */
	if (table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST)
		return 0;
	if (!(r = vec__push(&((struct net_view *)arg)->routes, sizeof(*r))))
		return -ENOMEM;
	if (!(r->raw = raw__copy(h)))
		return -ENOMEM;
	r->family = rt->rtm_family;
	r->scope = rt->rtm_scope;
	r->protocol = rt->rtm_protocol;
	if (tb[RTA_OIF] && attr__len(tb[RTA_OIF]) == 4)
		memcpy(&r->oif, RTA_DATA(tb[RTA_OIF]), 4);
	ip__text(r->family, tb[RTA_DST], r->dst, sizeof(r->dst));
	if (r->dst[0])
		snprintf(r->dst + strlen(r->dst), sizeof(r->dst) - strlen(r->dst), "/%u", rt->rtm_dst_len);
	ip__text(r->family, tb[RTA_GATEWAY], r->gw, sizeof(r->gw));
	ip__text(r->family, tb[RTA_PREFSRC], r->src, sizeof(r->src));
	return 0;
}

/* Dumps what `what` names (VIEW_*) into v. */
static int view__load(struct nl *nl, struct net_view *v, unsigned what)
{
	static const struct {
		unsigned bit;
		uint16_t type;
		int (*cb)(const struct nlmsghdr *, void *);
	} dumps[] = {
		{ VIEW_LINKS, RTM_GETLINK, link__from_msg },
		{ VIEW_ADDRS, RTM_GETADDR, addr__from_msg },
		{ VIEW_ROUTES, RTM_GETROUTE, route__from_msg },
	};
	/* The largest family header of the three; AF_UNSPEC (0) dumps all families. */
	struct ifinfomsg hdr = { 0 };
	struct nl_msg m;
	int err;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < ARRAY_SIZE(dumps); i++) {
		if (!(what & dumps[i].bit))
			continue;
		nl_msg__init(&m, dumps[i].type, NLM_F_DUMP, &hdr,
			     dumps[i].type == RTM_GETLINK ? sizeof(struct ifinfomsg) :
			     dumps[i].type == RTM_GETADDR ? sizeof(struct ifaddrmsg) : sizeof(struct rtmsg));
		if ((err = nl__talk(nl, &m, dumps[i].cb, v)) < 0) {
			view__free(v);
			return err;
		}
	}
	return 0;
}

static const struct link *view__find_name(const struct net_view *v, const char *name)
{
	for (size_t i = 0; i < v->links.n; i++)
		if (!strcmp(view__link(v, i)->name, name))
			return view__link(v, i);
	return NULL;
}

static const char *view__name_of(const struct net_view *v, int index)
{
	for (size_t i = 0; i < v->links.n; i++)
		if (view__link(v, i)->index == index)
			return view__link(v, i)->name;
	return "";
}

/* --- errors ----------------------------------------------------------- */

static int errno__code(int err)
{
	switch (err) {
	case EINVAL:
	case ERANGE:
	case EAFNOSUPPORT:
	case EMSGSIZE:
		return RPC_INVALID_ARGUMENT;
	case EEXIST:
		return RPC_ALREADY_EXISTS;
	case ENODEV:
	case ENOENT:
	case ESRCH:
		return RPC_NOT_FOUND;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EADDRNOTAVAIL:
	case EBUSY:
	case EPERM:
	case EACCES:
		return RPC_FAILED_PRECONDITION;
	case ENOMEM:
	case ENOBUFS:
		return RPC_RESOURCE_EXHAUSTED;
	case EAGAIN:
		return RPC_DEADLINE_EXCEEDED;
	default:
		return RPC_INTERNAL;
	}
}

/* Fails r for a kernel error err (negative) of the step fmt names. */
static int net_fail(struct rpc_reply *r, const struct nl *nl, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int net_fail(struct rpc_reply *r, const struct nl *nl, int err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (nl && nl->ext[0])
		return rpc_fail(r, errno__code(-err), "%s: %s (%s)", what, strerror(-err), nl->ext);
	return rpc_fail(r, errno__code(-err), "%s: %s", what, strerror(-err));
}

/* --- parsing requests ------------------------------------------------- */

struct ip {
	int family;
	unsigned char b[16];
};

static unsigned family__bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static const char *family__name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

static bool ip__parse(const char *s, struct ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->b) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, s, ip->b) == 1)
		ip->family = AF_INET6;
	return ip->family != 0;
}

/* The request's IPFamily as AF_*, or 0 for a value outside the enum. */
static int family__of(Grpc__IPFamily f)
{
	return f == GRPC__IPFAMILY__v4 ? AF_INET : f == GRPC__IPFAMILY__v6 ? AF_INET6 : 0;
}

/* A prefix length in decimal, or for IPv4 a contiguous netmask; -1 if neither. */
static int prefix__parse(const char *s, int family)
{
	struct in_addr m;

	if (s[0] && strlen(s) <= 3 && strspn(s, "0123456789") == strlen(s)) {
		unsigned n = strtoul(s, NULL, 10);
		return n <= family__bits(family) ? (int)n : -1;
	}
	if (family == AF_INET && inet_pton(AF_INET, s, &m) == 1) {
		uint32_t v = ntohl(m.s_addr);
		int n = __builtin_popcount(v);
		return v == (n ? ~0u << (32 - n) : 0u) ? n : -1;
	}
	return -1;
}

/* Normalises a MAC "aa:bb:cc:dd:ee:ff" (either case) to lower case. */
static bool mac__parse(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
		out[i] = tolower((unsigned char)s[i]);
	}
	out[17] = 0;
	return true;
}

/* The kernel's rule for interface names (dev_valid_name). */
static bool ifname__valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

/* A requested address, checked. */
struct want_addr {
	struct ip ip;
	unsigned prefix;
	char text[INET6_ADDRSTRLEN];
};

static int want_addr__parse(const Grpc__IPAddress *a, struct want_addr *w, struct rpc_reply *r)
{
	int family = family__of(a->family), prefix;

	if (!family)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "address \"%s\": unknown family %d", a->address, a->family);
	if (!ip__parse(a->address, &w->ip))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "address \"%s\" is not an IP address", a->address);
	if (w->ip.family != family)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "address \"%s\" is not %s as its family says", a->address,
				family__name(family));
	if ((prefix = prefix__parse(a->mask, family)) < 0)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "address \"%s\": bad mask \"%s\" (a prefix length up to %u)",
				a->address, a->mask, family__bits(family));
	w->prefix = prefix;
	inet_ntop(family, w->ip.b, w->text, sizeof(w->text));
	return 0;
}

/* --- links and addresses ---------------------------------------------- */

/* Sets flags (under mask), a new name and/or an MTU of link index. */
static int link__set(struct nl *nl, int index, unsigned flags, unsigned mask, const char *name, unsigned mtu)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = flags, .ifi_change = mask };
	struct nl_msg m;

	nl_msg__init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (name)
		nl_msg__attr(&m, IFLA_IFNAME, name, strlen(name) + 1);
	if (mtu)
		nl_msg__u32(&m, IFLA_MTU, mtu);
	return nl__talk(nl, &m, NULL, NULL);
}

static int addr__add(struct nl *nl, int index, const struct want_addr *w)
{
	struct ifaddrmsg ifa = {
		.ifa_family = w->ip.family,
		.ifa_prefixlen = w->prefix,
		/* The host owns the address plan: no duplicate detection delay. */
		.ifa_flags = w->ip.family == AF_INET6 ? IFA_F_NODAD : 0,
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = index,
	};
	size_t len = w->ip.family == AF_INET ? 4 : 16;
	struct nl_msg m;

	nl_msg__init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof(ifa));
	nl_msg__attr(&m, IFA_LOCAL, w->ip.b, len);
	nl_msg__attr(&m, IFA_ADDRESS, w->ip.b, len);
	return nl__talk(nl, &m, NULL, NULL);
}

/* Sends a dumped object back with another type (its delete), as `ip … flush` does. */
static int raw__resend(struct nl *nl, const struct nlmsghdr *raw, uint16_t type)
{
	struct nl_msg m;

	if (raw->nlmsg_len > sizeof(m.buf))
		return -EMSGSIZE;
	memset(&m, 0, sizeof(m));
	memcpy(m.buf, raw, raw->nlmsg_len);
	m.h.nlmsg_type = type;
	m.h.nlmsg_flags = NLM_F_REQUEST;
	return nl__talk(nl, &m, NULL, NULL);
}

/* The interface message of link l with its addresses from v; the arrays
 * ips/ipp have room for every address of v. */
static void iface__fill(Grpc__Interface *out, const struct link *l, const struct net_view *v, Grpc__IPAddress *ips,
			Grpc__IPAddress **ipp)
{
	grpc__interface__init(out);
	out->device = out->name = (char *)l->name;
	out->mtu = l->mtu;
	out->hwaddr = (char *)l->mac;
	out->raw_flags = l->flags;
	out->ipaddresses = ipp;
	for (size_t i = 0; i < v->addrs.n; i++) {
		const struct addr *a = view__addr(v, i);
		Grpc__IPAddress *ip = &ips[out->n_ipaddresses];

		if (a->index != l->index)
			continue;
		grpc__ipaddress__init(ip);
		ip->family = a->family == AF_INET6 ? GRPC__IPFAMILY__v6 : GRPC__IPFAMILY__v4;
		ip->address = (char *)a->text;
		ip->mask = (char *)a->mask;
		ipp[out->n_ipaddresses++] = ip;
	}
}

/* Answers the call with the links of v (all, or only index when > 0). */
static int ifaces__answer(struct call *call, const struct net_view *v, int index, struct rpc_reply *r)
{
	size_t n = v->links.n ? v->links.n : 1, na = v->addrs.n ? v->addrs.n : 1, used = 0;
	Grpc__Interface *ifs = calloc(n, sizeof(*ifs));
	Grpc__Interface **ifp = calloc(n, sizeof(*ifp));
	Grpc__IPAddress *ips = calloc(na, sizeof(*ips));
	Grpc__IPAddress **ipp = calloc(na, sizeof(*ipp));
	Grpc__Interfaces all = GRPC__INTERFACES__INIT;
	int ret = 0;

	if (!ifs || !ifp || !ips || !ipp) {
		ret = rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		goto out;
	}
	for (size_t i = 0; i < v->links.n; i++) {
		const struct link *l = view__link(v, i);

		if (index > 0 && l->index != index)
			continue;
		iface__fill(&ifs[all.n_interfaces], l, v, ips + used, ipp + used);
		used += ifs[all.n_interfaces].n_ipaddresses;
		ifp[all.n_interfaces] = &ifs[all.n_interfaces];
		all.n_interfaces++;
	}
	all.interfaces = ifp;
	if (index > 0 && all.n_interfaces == 0)
		ret = rpc_fail(r, RPC_NOT_FOUND, "interface %d went away", index);
	else if (index > 0)
		ttrpc__answer(call, &ifs[0].base);
	else
		ttrpc__answer(call, &all.base);
out:
	free(ipp);
	free(ips);
	free(ifp);
	free(ifs);
	return ret;
}

/* Whether the link holds an address of the request (kept, not re-added). */
static bool addr__wanted(const struct addr *a, const struct want_addr *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (want[i].ip.family == a->family && !strcmp(want[i].text, a->text) &&
		    (unsigned)strtoul(a->mask, NULL, 10) == want[i].prefix)
			return true;
	return false;
}

/* Replaces the addresses of link l (now called name) by want (IPv6
 * link-local ones stay). */
static int link__set_addrs(struct nl *nl, const struct link *l, const char *name, const struct want_addr *want,
			   size_t n, struct rpc_reply *r)
{
	struct net_view v;
	int err;

	if ((err = view__load(nl, &v, VIEW_ADDRS)) < 0)
		return net_fail(r, nl, err, "listing addresses");
	for (size_t i = 0; i < v.addrs.n; i++) {
		const struct addr *a = view__addr(&v, i);

		if (a->index != l->index || (a->family == AF_INET6 && a->scope == RT_SCOPE_LINK) ||
		    addr__wanted(a, want, n))
			continue;
		err = raw__resend(nl, a->raw, RTM_DELADDR);
		if (err < 0 && err != -EADDRNOTAVAIL) {
			view__free(&v);
			return net_fail(r, nl, err, "removing address %s/%s from %s", a->text, a->mask, name);
		}
	}
	view__free(&v);
	for (size_t i = 0; i < n; i++)
		if ((err = addr__add(nl, l->index, &want[i])) < 0)
			return net_fail(r, nl, err, "adding address %s/%u to %s", want[i].text, want[i].prefix,
					name);
	return 0;
}

/* Applies the checked request to link l; the answer is the link as it ends up. */
static int iface__apply(struct nl *nl, const struct link *l, const Grpc__Interface *in, const struct want_addr *want,
			struct call *call, struct rpc_reply *r)
{
	const char *name = in->name[0] && strcmp(in->name, l->name) ? in->name : NULL;
	const char *now = name ? name : l->name;
	struct net_view v;
	int err;

	/* The kernel renames only a link that is down. */
	if (name && (l->flags & IFF_UP) && (err = link__set(nl, l->index, 0, IFF_UP, NULL, 0)) < 0)
		return net_fail(r, nl, err, "setting %s down to rename it", l->name);
	if (name && (err = link__set(nl, l->index, 0, 0, name, 0)) < 0)
		return net_fail(r, nl, err, "renaming %s to \"%s\"", l->name, name);
	if (in->mtu && in->mtu != l->mtu && (err = link__set(nl, l->index, 0, 0, NULL, in->mtu)) < 0)
		return net_fail(r, nl, err, "setting the MTU of %s to %llu", now, (unsigned long long)in->mtu);
	/* Up before the addresses: taking a link down drops its IPv6 addresses. */
	if ((err = link__set(nl, l->index, IFF_UP, IFF_UP, NULL, 0)) < 0)
		return net_fail(r, nl, err, "setting %s up", now);
	if (link__set_addrs(nl, l, now, want, in->n_ipaddresses, r))
		return -1;
	if ((err = view__load(nl, &v, VIEW_LINKS | VIEW_ADDRS)) < 0)
		return net_fail(r, nl, err, "listing interfaces");
	err = ifaces__answer(call, &v, l->index, r);
	view__free(&v);
	return err;
}

/* Checks every field of the interface, then finds its link by MAC. */
static int iface__check(const Grpc__Interface *in, const struct net_view *v, char mac[18], struct want_addr *want,
			const struct link **found, struct rpc_reply *r)
{
	const struct link *other;

	if (!mac__parse(in->hwaddr, mac))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "hwAddr \"%s\" is not a MAC address (aa:bb:cc:dd:ee:ff)",
				in->hwaddr);
	if (in->name[0] && !ifname__valid(in->name))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "interface name \"%s\" is not valid", in->name);
	if (in->mtu > 65535)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "MTU %llu is too large", (unsigned long long)in->mtu);
	for (size_t i = 0; i < in->n_ipaddresses; i++)
		if (want_addr__parse(in->ipaddresses[i], &want[i], r))
			return -1;
	*found = NULL;
	for (size_t i = 0; i < v->links.n; i++) {
		const struct link *l = view__link(v, i);

		if ((l->flags & IFF_LOOPBACK) || strcmp(l->mac, mac))
			continue;
		if (*found)
			return rpc_fail(r, RPC_FAILED_PRECONDITION, "MAC %s belongs to both %s and %s", mac,
					(*found)->name, l->name);
		*found = l;
	}
	if (!*found)
		return rpc_fail(r, RPC_NOT_FOUND, "no network interface has MAC %s", mac);
	other = in->name[0] ? view__find_name(v, in->name) : NULL;
	if (other && other != *found)
		return rpc_fail(r, RPC_ALREADY_EXISTS, "interface name \"%s\" is taken by another link (MAC %s)",
				in->name, other->mac[0] ? other->mac : "none");
	return 0;
}

/* Opens the socket and lists the links: what every update starts from. */
static int net__begin(struct nl *nl, struct net_view *v, struct rpc_reply *r)
{
	int err;

	if ((err = nl__open(nl)) < 0)
		return net_fail(r, NULL, err, "netlink socket");
	if ((err = view__load(nl, v, VIEW_LINKS)) < 0)
		return net_fail(r, nl, err, "listing interfaces");
	return 0;
}

int net__update_interface(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__UpdateInterfaceRequest, req);
	const Grpc__Interface *in = req->interface;
	const struct link *l = NULL;
	struct want_addr *want = NULL;
	struct net_view v = { 0 };
	struct nl nl = { .fd = -1 };
	char mac[18];
	int ret = -1;

	if (!in)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "UpdateInterface without an interface");
	if (in->n_ipaddresses && !(want = calloc(in->n_ipaddresses, sizeof(*want))))
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	if (net__begin(&nl, &v, r))
		goto out;
	if (iface__check(in, &v, mac, want, &l, r))
		goto out;
	ret = iface__apply(&nl, l, in, want, call, r);
out:
	view__free(&v);
	nl__close(&nl);
	free(want);
	return ret;
}

/* --- routes ----------------------------------------------------------- */

struct want_route {
	int family;
	struct ip dst, gw, src;
	unsigned dst_len;
	bool has_dst, has_gw, has_src;
	int oif;
	unsigned scope, flags;
};

/* Parses an address field of route rt ("" = absent) of the route's family. */
static int route_ip__parse(const char *field, const char *s, int family, const Grpc__Route *rt, struct ip *ip,
			   bool *has, struct rpc_reply *r)
{
	*has = s[0] != 0;
	if (!*has)
		return 0;
	if (!ip__parse(s, ip))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\": %s \"%s\" is not an IP address", rt->dest,
				field, s);
	if (ip->family != family)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\": %s \"%s\" is not %s as its family says",
				rt->dest, field, s, family__name(family));
	return 0;
}

/* Whether the address has bits set beyond the prefix (the kernel refuses it). */
static bool ip__host_bits(const struct ip *ip, unsigned prefix)
{
	for (unsigned bit = prefix; bit < family__bits(ip->family); bit++)
		if (ip->b[bit / 8] & (0x80 >> (bit % 8)))
			return true;
	return false;
}

static int want_route__parse(const Grpc__Route *rt, const struct net_view *v, struct want_route *w,
			     struct rpc_reply *r)
{
	char dst[INET6_ADDRSTRLEN + 8];
	char *slash;
	int prefix;

	memset(w, 0, sizeof(*w));
	if (!(w->family = family__of(rt->family)))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\": unknown family %d", rt->dest, rt->family);
	if (rt->dest[0] && strcmp(rt->dest, "default")) {
		if (snprintf(dst, sizeof(dst), "%s", rt->dest) >= (int)sizeof(dst))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "route destination \"%s\" is too long", rt->dest);
		prefix = family__bits(w->family);
		if ((slash = strchr(dst, '/'))) {
			*slash = 0;
			if ((prefix = prefix__parse(slash + 1, w->family)) < 0 || !slash[1] || !isdigit((unsigned char)slash[1]))
				return rpc_fail(r, RPC_INVALID_ARGUMENT, "route destination \"%s\": bad prefix length",
						rt->dest);
		}
		if (route_ip__parse("destination", dst, w->family, rt, &w->dst, &w->has_dst, r))
			return -1;
		if (ip__host_bits(&w->dst, prefix))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "route destination \"%s\" has bits beyond its prefix",
					rt->dest);
		w->dst_len = prefix;
	}
	if (route_ip__parse("gateway", rt->gateway, w->family, rt, &w->gw, &w->has_gw, r) ||
	    route_ip__parse("source", rt->source, w->family, rt, &w->src, &w->has_src, r))
		return -1;
	if (rt->device[0]) {
		const struct link *l = view__find_name(v, rt->device);
		if (!l)
			return rpc_fail(r, RPC_NOT_FOUND, "route to \"%s\": no interface named \"%s\"", rt->dest,
					rt->device);
		w->oif = l->index;
	}
	if (!w->oif && !w->has_gw)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\" has neither a device nor a gateway", rt->dest);
	if (rt->scope > 255)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\": scope %u out of range", rt->dest, rt->scope);
	if (rt->flags & ~(uint32_t)RTNH_F_ONLINK)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "route to \"%s\": unsupported flags %#x", rt->dest, rt->flags);
	/* As `ip route add` does: a route without gateway is link scope. */
	w->scope = rt->scope || w->has_gw ? rt->scope : RT_SCOPE_LINK;
	w->flags = rt->flags;
	return 0;
}

static int route__add(struct nl *nl, const struct want_route *w)
{
	struct rtmsg rt = {
		.rtm_family = w->family,
		.rtm_dst_len = w->dst_len,
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = w->scope,
		.rtm_type = RTN_UNICAST,
		.rtm_flags = w->flags,
	};
	size_t len = w->family == AF_INET ? 4 : 16;
	struct nl_msg m;
	int err;

	/* No NLM_F_REPLACE: it would take over the kernel's route for an address
	 * (the next UpdateRoutes would then remove it). Beside it, ours is an
	 * alias that the next update removes; an identical one is EEXIST. */
	nl_msg__init(&m, RTM_NEWROUTE, NLM_F_CREATE, &rt, sizeof(rt));
	if (w->has_dst)
		nl_msg__attr(&m, RTA_DST, w->dst.b, len);
	if (w->has_gw)
		nl_msg__attr(&m, RTA_GATEWAY, w->gw.b, len);
	if (w->has_src)
		nl_msg__attr(&m, RTA_PREFSRC, w->src.b, len);
	if (w->oif)
		nl_msg__u32(&m, RTA_OIF, w->oif);
	err = nl__talk(nl, &m, NULL, NULL);
	return err == -EEXIST ? 0 : err;
}

/* Answers the call with the main table's routes. */
static int routes__answer(struct nl *nl, struct call *call, struct rpc_reply *r)
{
	Grpc__Routes all = GRPC__ROUTES__INIT;
	Grpc__Route *rts = NULL, **rtp = NULL;
	struct net_view v;
	int err;

	if ((err = view__load(nl, &v, VIEW_LINKS | VIEW_ROUTES)) < 0)
		return net_fail(r, nl, err, "listing routes");
	if (v.routes.n && (!(rts = calloc(v.routes.n, sizeof(*rts))) || !(rtp = calloc(v.routes.n, sizeof(*rtp))))) {
		err = rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		goto out;
	}
	for (size_t i = 0; i < v.routes.n; i++) {
		const struct route *rt = view__route(&v, i);

		grpc__route__init(&rts[i]);
		rts[i].dest = (char *)rt->dst;
		rts[i].gateway = (char *)rt->gw;
		rts[i].source = (char *)rt->src;
		rts[i].device = (char *)view__name_of(&v, rt->oif);
		rts[i].scope = rt->scope;
		rts[i].family = rt->family == AF_INET6 ? GRPC__IPFAMILY__v6 : GRPC__IPFAMILY__v4;
		rtp[i] = &rts[i];
	}
	all.n_routes = v.routes.n;
	all.routes = rtp;
	ttrpc__answer(call, &all.base);
	err = 0;
out:
	free(rtp);
	free(rts);
	view__free(&v);
	return err;
}

/* Whether v holds, from the kernel (for an address), the device route w. */
static bool route__is_kernels(const struct want_route *w, const struct net_view *v)
{
	char dst[INET6_ADDRSTRLEN + 4], src[INET6_ADDRSTRLEN] = "";

	if (w->has_gw || !w->has_dst)
		return false;
	inet_ntop(w->family, w->dst.b, dst, sizeof(dst));
	snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%u", w->dst_len);
	if (w->has_src)
		inet_ntop(w->family, w->src.b, src, sizeof(src));
	for (size_t i = 0; i < v->routes.n; i++) {
		const struct route *rt = view__route(v, i);

		if (rt->protocol == RTPROT_KERNEL && rt->family == w->family && rt->oif == w->oif &&
		    !strcmp(rt->dst, dst) && (!w->has_src || !strcmp(rt->src, src)))
			return true;
	}
	return false;
}

/* Replaces the main table's routes (not the kernel's own) by want. */
static int routes__replace(struct nl *nl, const Grpc__Routes *in, const struct want_route *want, struct rpc_reply *r)
{
	struct net_view v;
	int err = 0;

	if ((err = view__load(nl, &v, VIEW_ROUTES)) < 0)
		return net_fail(r, nl, err, "listing routes");
	for (size_t i = 0; i < v.routes.n; i++) {
		const struct route *rt = view__route(&v, i);

		if (rt->protocol == RTPROT_KERNEL)
			continue;
		err = raw__resend(nl, rt->raw, RTM_DELROUTE);
		if (err < 0 && err != -ESRCH) {
			err = net_fail(r, nl, err, "removing the route to \"%s\"", rt->dst[0] ? rt->dst : "default");
			goto out;
		}
	}
	/* Routes through a gateway need the device routes that reach it: those
	 * first; a device route the kernel made for an address stays the one. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < in->n_routes; i++) {
			if (want[i].has_gw != (pass == 1) || route__is_kernels(&want[i], &v))
				continue;
			if ((err = route__add(nl, &want[i])) < 0) {
				err = net_fail(r, nl, err, "adding the route to \"%s\"%s%s",
					       in->routes[i]->dest[0] ? in->routes[i]->dest : "default",
					       want[i].has_gw ? " via " : "", in->routes[i]->gateway);
				goto out;
			}
		}
	err = 0;
out:
	view__free(&v);
	return err;
}

int net__update_routes(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__UpdateRoutesRequest, req);
	struct want_route *want = NULL;
	struct net_view v = { 0 };
	struct nl nl = { .fd = -1 };
	int ret = -1;

	if (!req->routes)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "UpdateRoutes without routes");
	if (req->routes->n_routes && !(want = calloc(req->routes->n_routes, sizeof(*want))))
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	if (net__begin(&nl, &v, r))
		goto out;
	for (size_t i = 0; i < req->routes->n_routes; i++)
		if (want_route__parse(req->routes->routes[i], &v, &want[i], r))
			goto out;
	if (routes__replace(&nl, req->routes, want, r))
		goto out;
	ret = routes__answer(&nl, call, r);
out:
	view__free(&v);
	nl__close(&nl);
	free(want);
	return ret;
}

int net__list_interfaces(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	struct net_view v;
	struct nl nl;
	int err;

	(void)msg;
	if ((err = nl__open(&nl)) < 0)
		return net_fail(r, NULL, err, "netlink socket");
	if ((err = view__load(&nl, &v, VIEW_LINKS | VIEW_ADDRS)) < 0) {
		err = net_fail(r, &nl, err, "listing interfaces");
	} else {
		err = ifaces__answer(call, &v, 0, r);
		view__free(&v);
	}
	nl__close(&nl);
	return err;
}

int net__list_routes(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	struct nl nl;
	int err;

	(void)msg;
	if ((err = nl__open(&nl)) < 0)
		return net_fail(r, NULL, err, "netlink socket");
	err = routes__answer(&nl, call, r);
	nl__close(&nl);
	return err;
}

void net__init(void)
{
	/* The kernel creates lo down; containers without a pod network still
	 * expect 127.0.0.1 to work. */
	unsigned index = if_nametoindex("lo");
	struct nl nl;
	int err;

	if (!index) {
		agent_log("no loopback interface: %s", strerror(errno));
		return;
	}
	if ((err = nl__open(&nl)) < 0) {
		agent_log("netlink socket: %s", strerror(-err));
		return;
	}
	if ((err = link__set(&nl, index, IFF_UP, IFF_UP, NULL, 0)) < 0)
		agent_log("setting lo up: %s", strerror(-err));
	nl__close(&nl);
}

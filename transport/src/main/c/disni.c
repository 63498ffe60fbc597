/*
 * farmem's libdisni: the native half of DiSNI 2.1 (com.ibm.disni.verbs.impl.NativeDispatcher), written for
 * farmem against Debian's libibverbs and librdmacm. DiSNI on Maven Central is Java only and no registry serves
 * this half, so the project builds its own (transport/native/build) and ships it in the transport jar.
 *
 * The contract, as DiSNI's Java side uses it:
 * - every native object (event channel, cm id, context, pd, cq, qp, mr) travels to Java as its pointer in a jlong;
 * - work requests, scatter entries and work completions are built by Java in native memory in the C layout of
 *   struct ibv_send_wr / ibv_recv_wr / ibv_sge / ibv_wc, whose sizes and the rdma fields' offsets Java asks for at
 *   start (the _get*Size functions), so _postSend, _postRecv and _pollCQ hand those lists to the verbs as they are;
 * - a failed call that DiSNI declares "throws IOException" throws one naming the verb and errno; calls that return
 *   an int report failure as a negative value (Java checks it);
 * - _getCmEvent acknowledges the event it returns at once (Java's _ackCmEvent then has nothing left to do), so
 *   rdma_destroy_id never waits on an unacknowledged event; _getCqEvent leaves the acknowledgement to _ackCqEvent.
 * It also serves com.ibm.disni.util.NativeAffinity, which loads the same library.
 * The hot path (_postSend, _postRecv, _pollCQ) does no allocation and no JNI lookup unless it fails.
 */
#define _GNU_SOURCE
#include <jni.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* DiSNI 2.1's NativeDispatcher refuses a library that reports another version. */
#define DISNI_JNI_VERSION 32
/* Scatter entries per work request: farmem posts one per request; four leaves room for other DiSNI users. */
#define MAX_SGE 4

#define FN(name) JNICALL Java_com_ibm_disni_verbs_impl_NativeDispatcher__1##name
#define PTR(type, v) ((type *)(intptr_t)(v))
#define JPTR(p) ((jlong)(intptr_t)(p))

static void throw_io(JNIEnv *env, const char *what, int err) {
    char msg[256];
    if (err != 0) snprintf(msg, sizeof msg, "libdisni: %s failed: %s (errno %d)", what, strerror(err), err);
    else snprintf(msg, sizeof msg, "libdisni: %s failed", what);
    jclass io = (*env)->FindClass(env, "java/io/IOException");
    if (io != NULL) (*env)->ThrowNew(env, io, msg);
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Waits up to timeout_ms (negative: forever) for fd to become readable: 1 readable, 0 timed out, -1 error. */
static int wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    int n;
    do n = poll(&p, 1, timeout_ms); while (n < 0 && errno == EINTR);
    return n;
}

/* ---- rdma_cm ---- */

JNIEXPORT jlong FN(createEventChannel)(JNIEnv *env, jobject self) {
    struct rdma_event_channel *ch = rdma_create_event_channel();
    if (ch == NULL) { throw_io(env, "rdma_create_event_channel", errno); return -1; }
    /* _getCmEvent polls with a timeout and must never block in rdma_get_cm_event. */
    if (set_nonblocking(ch->fd) != 0) { int e = errno; rdma_destroy_event_channel(ch); throw_io(env, "fcntl(O_NONBLOCK) on the cm channel", e); return -1; }
    return JPTR(ch);
}

JNIEXPORT jlong FN(createId)(JNIEnv *env, jobject self, jlong channel, jshort ps) {
    struct rdma_cm_id *id = NULL;
    if (channel == 0) { throw_io(env, "rdma_create_id (no event channel)", EINVAL); return -1; }
    if (rdma_create_id(PTR(struct rdma_event_channel, channel), &id, NULL, (enum rdma_port_space)(uint16_t)ps) != 0) {
        throw_io(env, "rdma_create_id", errno); return -1;
    }
    return JPTR(id);
}

JNIEXPORT jlong FN(createQP)(JNIEnv *env, jobject self, jlong id, jlong pd, jlong sendcq, jlong recvcq,
                             jint qptype, jint maxsendwr, jint maxrecvwr, jint maxinline) {
    struct rdma_cm_id *cm = PTR(struct rdma_cm_id, id);
    if (cm == NULL || pd == 0 || sendcq == 0 || recvcq == 0) { throw_io(env, "rdma_create_qp (null id, pd or cq)", EINVAL); return -1; }
    struct ibv_qp_init_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.send_cq = PTR(struct ibv_cq, sendcq);
    attr.recv_cq = PTR(struct ibv_cq, recvcq);
    attr.qp_type = (enum ibv_qp_type)qptype;
    attr.cap.max_send_wr = (uint32_t)maxsendwr;
    attr.cap.max_recv_wr = (uint32_t)maxrecvwr;
    attr.cap.max_send_sge = MAX_SGE;
    attr.cap.max_recv_sge = MAX_SGE;
    attr.cap.max_inline_data = (uint32_t)maxinline;
    attr.sq_sig_all = 0; /* only work requests flagged IBV_SEND_SIGNALED complete: WRITEV chains rely on it */
    if (rdma_create_qp(cm, PTR(struct ibv_pd, pd), &attr) != 0) { throw_io(env, "rdma_create_qp", errno); return -1; }
    return JPTR(cm->qp);
}

JNIEXPORT void FN(bindAddr)(JNIEnv *env, jobject self, jlong id, jlong addr) {
    if (rdma_bind_addr(PTR(struct rdma_cm_id, id), PTR(struct sockaddr, addr)) != 0) throw_io(env, "rdma_bind_addr", errno);
}

JNIEXPORT void FN(listen)(JNIEnv *env, jobject self, jlong id, jint backlog) {
    if (rdma_listen(PTR(struct rdma_cm_id, id), backlog) != 0) throw_io(env, "rdma_listen", errno);
}

JNIEXPORT void FN(resolveAddr)(JNIEnv *env, jobject self, jlong id, jlong src, jlong dst, jint timeout) {
    if (rdma_resolve_addr(PTR(struct rdma_cm_id, id), PTR(struct sockaddr, src), PTR(struct sockaddr, dst), timeout) != 0)
        throw_io(env, "rdma_resolve_addr", errno);
}

JNIEXPORT void FN(resolveRoute)(JNIEnv *env, jobject self, jlong id, jint timeout) {
    if (rdma_resolve_route(PTR(struct rdma_cm_id, id), timeout) != 0) throw_io(env, "rdma_resolve_route", errno);
}

JNIEXPORT jint FN(getCmEvent)(JNIEnv *env, jobject self, jlong channel, jlong listenid, jlong clientid, jint timeout) {
    struct rdma_event_channel *ch = PTR(struct rdma_event_channel, channel);
    struct rdma_cm_event *ev = NULL;
    if (ch == NULL || wait_readable(ch->fd, timeout) <= 0) return -1;
    if (rdma_get_cm_event(ch, &ev) != 0) return -1;
    jint type = (jint)ev->event;
    *PTR(int64_t, listenid) = ev->listen_id != NULL ? (int64_t)(intptr_t)ev->listen_id : -1;
    *PTR(int64_t, clientid) = ev->id != NULL ? (int64_t)(intptr_t)ev->id : -1;
    rdma_ack_cm_event(ev);
    return type;
}

/* Both sides offer the device's limit of outstanding RDMA READs: pipelined READs are the data path's bulk. */
static void conn_param_for(struct rdma_cm_id *id, struct rdma_conn_param *p, jint retry, jint rnr_retry) {
    struct ibv_device_attr dev;
    memset(p, 0, sizeof *p);
    uint8_t rd = 1;
    if (id->verbs != NULL && ibv_query_device(id->verbs, &dev) == 0) rd = (uint8_t)(dev.max_qp_rd_atom > 255 ? 255 : dev.max_qp_rd_atom);
    p->initiator_depth = rd;
    p->responder_resources = rd;
    p->retry_count = (uint8_t)retry;
    p->rnr_retry_count = (uint8_t)rnr_retry;
}

JNIEXPORT void FN(connect)(JNIEnv *env, jobject self, jlong id, jint retry, jint rnr_retry, jlong privdata, jbyte privlen) {
    struct rdma_cm_id *cm = PTR(struct rdma_cm_id, id);
    struct rdma_conn_param p;
    if (cm == NULL) { throw_io(env, "rdma_connect (null id)", EINVAL); return; }
    conn_param_for(cm, &p, retry, rnr_retry);
    p.private_data = PTR(void, privdata);
    p.private_data_len = privdata != 0 ? (uint8_t)privlen : 0;
    if (rdma_connect(cm, &p) != 0) throw_io(env, "rdma_connect", errno);
}

JNIEXPORT void FN(accept)(JNIEnv *env, jobject self, jlong id, jint retry, jint rnr_retry) {
    struct rdma_cm_id *cm = PTR(struct rdma_cm_id, id);
    struct rdma_conn_param p;
    if (cm == NULL) { throw_io(env, "rdma_accept (null id)", EINVAL); return; }
    conn_param_for(cm, &p, retry, rnr_retry);
    if (rdma_accept(cm, &p) != 0) throw_io(env, "rdma_accept", errno);
}

JNIEXPORT jint FN(ackCmEvent)(JNIEnv *env, jobject self, jint event) {
    return 0; /* _getCmEvent acknowledged it already */
}

JNIEXPORT jint FN(disconnect)(JNIEnv *env, jobject self, jlong id) {
    return id == 0 ? -1 : rdma_disconnect(PTR(struct rdma_cm_id, id));
}

JNIEXPORT jint FN(destroyEventChannel)(JNIEnv *env, jobject self, jlong channel) {
    if (channel == 0) return -1;
    rdma_destroy_event_channel(PTR(struct rdma_event_channel, channel));
    return 0;
}

JNIEXPORT jint FN(destroyCmId)(JNIEnv *env, jobject self, jlong id) {
    return id == 0 ? -1 : rdma_destroy_id(PTR(struct rdma_cm_id, id));
}

JNIEXPORT jint FN(destroyQP)(JNIEnv *env, jobject self, jlong id) {
    struct rdma_cm_id *cm = PTR(struct rdma_cm_id, id);
    if (cm == NULL || cm->qp == NULL) return -1;
    rdma_destroy_qp(cm);
    return 0;
}

static jint copy_addr(struct sockaddr *sa, jlong dst) {
    if (sa == NULL || dst == 0) return -1;
    memcpy(PTR(void, dst), sa, sizeof(struct sockaddr_in));
    return 0;
}

JNIEXPORT jint FN(getSrcAddr)(JNIEnv *env, jobject self, jlong id, jlong addr) {
    return id == 0 ? -1 : copy_addr(rdma_get_local_addr(PTR(struct rdma_cm_id, id)), addr);
}

JNIEXPORT jint FN(getDstAddr)(JNIEnv *env, jobject self, jlong id, jlong addr) {
    return id == 0 ? -1 : copy_addr(rdma_get_peer_addr(PTR(struct rdma_cm_id, id)), addr);
}

JNIEXPORT jint FN(destroyEp)(JNIEnv *env, jobject self, jlong id) {
    if (id == 0) return -1;
    rdma_destroy_ep(PTR(struct rdma_cm_id, id));
    return 0;
}

/* ---- verbs ---- */

JNIEXPORT jlong FN(allocPd)(JNIEnv *env, jobject self, jlong ctx) {
    struct ibv_pd *pd = ctx == 0 ? NULL : ibv_alloc_pd(PTR(struct ibv_context, ctx));
    if (pd == NULL) { throw_io(env, "ibv_alloc_pd", ctx == 0 ? EINVAL : errno); return -1; }
    return JPTR(pd);
}

JNIEXPORT jlong FN(createCompChannel)(JNIEnv *env, jobject self, jlong ctx) {
    struct ibv_comp_channel *ch = ctx == 0 ? NULL : ibv_create_comp_channel(PTR(struct ibv_context, ctx));
    if (ch == NULL) { throw_io(env, "ibv_create_comp_channel", ctx == 0 ? EINVAL : errno); return -1; }
    /* _getCqEvent polls with a timeout and must never block in ibv_get_cq_event. */
    if (set_nonblocking(ch->fd) != 0) { int e = errno; ibv_destroy_comp_channel(ch); throw_io(env, "fcntl(O_NONBLOCK) on the completion channel", e); return -1; }
    return JPTR(ch);
}

JNIEXPORT jlong FN(createCQ)(JNIEnv *env, jobject self, jlong ctx, jlong channel, jint ncqe, jint vector) {
    struct ibv_cq *cq = ctx == 0 ? NULL : ibv_create_cq(PTR(struct ibv_context, ctx), ncqe, NULL, PTR(struct ibv_comp_channel, channel), vector);
    if (cq == NULL) { throw_io(env, "ibv_create_cq", ctx == 0 ? EINVAL : errno); return -1; }
    return JPTR(cq);
}

JNIEXPORT jint FN(modifyQP)(JNIEnv *env, jobject self, jlong qp, jlong attr) {
    /* DiSNI passes no attributes (attr is always 0): rdma_cm moves the QP through its states itself. */
    if (qp == 0) { throw_io(env, "modifyQP (null qp)", EINVAL); return -1; }
    return 0;
}

JNIEXPORT jlong FN(regMr)(JNIEnv *env, jobject self, jlong pd, jlong addr, jint len, jint access, jlong lkey, jlong rkey, jlong handle) {
    struct ibv_mr *mr = pd == 0 ? NULL : ibv_reg_mr(PTR(struct ibv_pd, pd), PTR(void, addr), (size_t)(uint32_t)len, access);
    if (mr == NULL) {
        int e = pd == 0 ? EINVAL : errno;
        char what[96];
        snprintf(what, sizeof what, "ibv_reg_mr of %u bytes%s", (unsigned)len, e == ENOMEM || e == EPERM ? " (is RLIMIT_MEMLOCK too low? ulimit -l)" : "");
        throw_io(env, what, e);
        return -1;
    }
    *PTR(uint32_t, lkey) = mr->lkey;
    *PTR(uint32_t, rkey) = mr->rkey;
    *PTR(uint32_t, handle) = mr->handle;
    return JPTR(mr);
}

JNIEXPORT jint FN(queryOdpSupport)(JNIEnv *env, jobject self, jlong ctx) {
    return -1; /* on-demand paging is not used by farmem: report it unsupported */
}

JNIEXPORT jint FN(expPrefetchMr)(JNIEnv *env, jobject self, jlong mr, jlong addr, jint len) {
    return -1; /* the experimental prefetch verb of Mellanox OFED is not in upstream rdma-core */
}

JNIEXPORT void FN(deregMr)(JNIEnv *env, jobject self, jlong mr) {
    int rc = mr == 0 ? EINVAL : ibv_dereg_mr(PTR(struct ibv_mr, mr));
    if (rc != 0) throw_io(env, "ibv_dereg_mr", rc);
}

JNIEXPORT void FN(postSend)(JNIEnv *env, jobject self, jlong qp, jlong wrs) {
    struct ibv_send_wr *bad = NULL;
    int rc = qp == 0 ? EINVAL : ibv_post_send(PTR(struct ibv_qp, qp), PTR(struct ibv_send_wr, wrs), &bad);
    if (rc != 0) throw_io(env, rc == ENOMEM ? "ibv_post_send (send queue full)" : "ibv_post_send", rc);
}

JNIEXPORT void FN(postRecv)(JNIEnv *env, jobject self, jlong qp, jlong wrs) {
    struct ibv_recv_wr *bad = NULL;
    int rc = qp == 0 ? EINVAL : ibv_post_recv(PTR(struct ibv_qp, qp), PTR(struct ibv_recv_wr, wrs), &bad);
    if (rc != 0) throw_io(env, rc == ENOMEM ? "ibv_post_recv (receive queue full)" : "ibv_post_recv", rc);
}

JNIEXPORT jint FN(getCqEvent)(JNIEnv *env, jobject self, jlong channel, jint timeout) {
    struct ibv_comp_channel *ch = PTR(struct ibv_comp_channel, channel);
    struct ibv_cq *cq;
    void *cq_ctx;
    if (ch == NULL) { throw_io(env, "ibv_get_cq_event (null channel)", EINVAL); return -1; }
    if (wait_readable(ch->fd, timeout) <= 0) return -1;
    return ibv_get_cq_event(ch, &cq, &cq_ctx) == 0 ? 0 : -1;
}

JNIEXPORT jint FN(pollCQ)(JNIEnv *env, jobject self, jlong cq, jint ne, jlong wcs) {
    return cq == 0 ? -1 : ibv_poll_cq(PTR(struct ibv_cq, cq), ne, PTR(struct ibv_wc, wcs));
}

JNIEXPORT jint FN(reqNotifyCQ)(JNIEnv *env, jobject self, jlong cq, jint solicited) {
    return cq == 0 ? -1 : ibv_req_notify_cq(PTR(struct ibv_cq, cq), solicited);
}

JNIEXPORT jint FN(ackCqEvent)(JNIEnv *env, jobject self, jlong cq, jint n) {
    if (cq == 0) return -1;
    ibv_ack_cq_events(PTR(struct ibv_cq, cq), (unsigned)n);
    return 0;
}

JNIEXPORT jint FN(destroyCompChannel)(JNIEnv *env, jobject self, jlong ch) {
    return ch == 0 ? -1 : ibv_destroy_comp_channel(PTR(struct ibv_comp_channel, ch));
}

JNIEXPORT jint FN(deallocPd)(JNIEnv *env, jobject self, jlong pd) {
    return pd == 0 ? -1 : ibv_dealloc_pd(PTR(struct ibv_pd, pd));
}

JNIEXPORT jint FN(destroyCQ)(JNIEnv *env, jobject self, jlong cq) {
    return cq == 0 ? -1 : ibv_destroy_cq(PTR(struct ibv_cq, cq));
}

/* ---- field lookups ---- */

JNIEXPORT jlong FN(getContext)(JNIEnv *env, jobject self, jlong id) {
    struct rdma_cm_id *cm = PTR(struct rdma_cm_id, id);
    if (cm == NULL || cm->verbs == NULL) {
        throw_io(env, "getContext (the cm id has no device yet: bind it or resolve its address first)", EINVAL);
        return -1;
    }
    return JPTR(cm->verbs);
}

JNIEXPORT jint FN(getQpNum)(JNIEnv *env, jobject self, jlong qp) {
    if (qp == 0) { throw_io(env, "getQpNum (null qp)", EINVAL); return -1; }
    return (jint)PTR(struct ibv_qp, qp)->qp_num;
}

JNIEXPORT jint FN(getContextFd)(JNIEnv *env, jobject self, jlong ctx) {
    if (ctx == 0) { throw_io(env, "getContextFd (null context)", EINVAL); return -1; }
    return PTR(struct ibv_context, ctx)->cmd_fd;
}

JNIEXPORT jint FN(getContextNumCompVectors)(JNIEnv *env, jobject self, jlong ctx) {
    if (ctx == 0) { throw_io(env, "getContextNumCompVectors (null context)", EINVAL); return -1; }
    return PTR(struct ibv_context, ctx)->num_comp_vectors;
}

JNIEXPORT jint FN(getPdHandle)(JNIEnv *env, jobject self, jlong pd) {
    if (pd == 0) { throw_io(env, "getPdHandle (null pd)", EINVAL); return -1; }
    return (jint)PTR(struct ibv_pd, pd)->handle;
}

/* ---- the layouts Java writes into native memory ---- */

JNIEXPORT jint FN(getSockAddrInSize)(JNIEnv *env, jobject self) { return sizeof(struct sockaddr_in); }
JNIEXPORT jint FN(getIbvRecvWRSize)(JNIEnv *env, jobject self) { return sizeof(struct ibv_recv_wr); }
JNIEXPORT jint FN(getIbvSendWRSize)(JNIEnv *env, jobject self) { return sizeof(struct ibv_send_wr); }
JNIEXPORT jint FN(getIbvSgeSize)(JNIEnv *env, jobject self) { return sizeof(struct ibv_sge); }
JNIEXPORT jint FN(getIbvWCSize)(JNIEnv *env, jobject self) { return sizeof(struct ibv_wc); }
JNIEXPORT jint FN(getRemoteAddressOffset)(JNIEnv *env, jobject self) { return offsetof(struct ibv_send_wr, wr.rdma.remote_addr); }
JNIEXPORT jint FN(getRKeyOffset)(JNIEnv *env, jobject self) { return offsetof(struct ibv_send_wr, wr.rdma.rkey); }
JNIEXPORT jint FN(getVersion)(JNIEnv *env, jobject self) { return DISNI_JNI_VERSION; }

/* ---- com.ibm.disni.util.NativeAffinity (DiSNI's CQ threads call it; it loads this same library) ---- */

JNIEXPORT void JNICALL Java_com_ibm_disni_util_NativeAffinity__1setAffinity(JNIEnv *env, jclass cls, jlong mask) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < 64; cpu++) if (((uint64_t)mask >> cpu) & 1) CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

JNIEXPORT jlong JNICALL Java_com_ibm_disni_util_NativeAffinity__1getAffinity(JNIEnv *env, jclass cls) {
    cpu_set_t set;
    uint64_t mask = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int cpu = 0; cpu < 64; cpu++) if (CPU_ISSET(cpu, &set)) mask |= (uint64_t)1 << cpu;
    return (jlong)mask;
}

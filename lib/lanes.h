/* lanes.h - serial lanes on a small thread pool.
 *
 * A lane is a unit of work that must never run concurrently with itself
 * (e.g. one Raft shard's applies, which must happen in log order) but may
 * run in parallel with other lanes. Kicking a lane schedules one call of
 * its run function on a pool thread; a kick while it runs schedules one
 * more call after it. Lanes are served first come, first served.
 *
 *   struct tr_lanes *pool;               tr_lanes_new(2, &pool);
 *   struct tr_lane *l = tr_lane_new(pool, drain, ctx);
 *   ... producer: push work onto ctx's queue; tr_lane_kick(l);
 *   ... drain(ctx) pops and processes until the queue is empty
 *   tr_lane_release(l, fin, ctx);       fin(ctx) once the lane is idle
 *   tr_lanes_free(pool);                 joins the threads
 *
 * Everything is thread-safe; run and fin are called on pool threads (fin
 * may also be called from tr_lane_release itself when the lane is idle).
 */
#ifndef TR_LIB_LANES_H
#define TR_LIB_LANES_H

struct tr_lanes;
struct tr_lane;

/* Starts `threads` pool threads (at least 1). 0, TR_ENOMEM or TR_EIO. */
int tr_lanes_new(unsigned threads, struct tr_lanes **out);
/* Waits until every scheduled lane ran, then joins the threads and frees
 * the pool. Every lane must have been released. */
void tr_lanes_free(struct tr_lanes *p);

/* A lane calling run(arg) when kicked; NULL on OOM. */
struct tr_lane *tr_lane_new(struct tr_lanes *p,
                            void (*run)(void *arg),
                            void *arg);
/* Schedules a call of run (coalesced with a pending one). */
void tr_lane_kick(struct tr_lane *l);
/* No more kicks: once the lane is neither running nor scheduled, it is
 * freed and fin(arg) called (fin may be NULL). */
void tr_lane_release(struct tr_lane *l, void (*fin)(void *arg), void *arg);

#endif

/*
 * runner: the body of a runner worker. Claims jobs from the cw:{c}:jobs stream
 * (consumer group "runners"), takes the session lock with a fencing token,
 * runs the agent, acknowledges. Jobs left pending by a dead runner are
 * reclaimed with XAUTOCLAIM once idle for RUN_LOCK_TTL and resumed from the
 * last persisted step.
 */
#ifndef CW_RUNNER_H
#define CW_RUNNER_H

struct app;

/* Returns when the worker was told to quit (checked between jobs). */
void	runner_main(struct app *);

#endif

/* Placeholder until the event loop lands: the classic accept loop. */
#include "app.h"
#include "streamloop.h"
#include "worker.h"

void
streamloop_main(const struct worker_args *wa, struct app *app)
{
	worker_serve_fcgi(wa, app);
}

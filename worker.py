"""The worker process: ``huey_consumer worker.huey`` (``make run`` starts it beside the web
server). It runs ``flask billing run`` every BILLING_RUN_MINUTES minutes."""
from portal import create_app
from portal.lifecycle.tasks import create_huey

app = create_app()
huey = create_huey(app)

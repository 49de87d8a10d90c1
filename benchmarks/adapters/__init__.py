"""One adapter per framework; see base.py for the interface."""

# Order used by run.py when --frameworks is not given.
ALL = ["rtask", "arq", "saq", "taskiq", "streaq", "dramatiq", "celery", "rq", "huey"]

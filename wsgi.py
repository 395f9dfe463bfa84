"""The WSGI entry point (gunicorn wsgi:app, flask --app wsgi ...). The only module-level app."""

from app import create_app
from app.ops.heap import freeze_startup_objects

app = create_app()
freeze_startup_objects()  # app/ops/heap.py: start-up objects are never garbage

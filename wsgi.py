"""The WSGI entry point (gunicorn wsgi:app, flask --app wsgi ...). The only module-level app."""

from app import create_app

app = create_app()

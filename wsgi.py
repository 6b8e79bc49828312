"""The WSGI entry point: gunicorn wsgi:app, flask --app wsgi ..."""

from storefront.app import create_app

app = create_app()

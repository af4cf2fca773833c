"""A minimal Django project around django-peertube-runner-connector, run as a real server by
tests/interop/test_django_connector.py (in its own venv, `make django-connector`)."""

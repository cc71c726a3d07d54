"""abng-api: the REST API (FastAPI on uvicorn, HTTPS only), a thin client of abngd.

See docs/api.md.  Entry point: :func:`abng.api.main.main`.
"""

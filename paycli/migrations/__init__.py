"""Alembic migrations of the store, shipped inside the package and run from code (``paycli/store.py``).

``HEAD`` names the newest revision without importing Alembic, so that every command can check the
store's version cheaply; a test keeps it equal to Alembic's own head.
"""

HEAD = "0013"

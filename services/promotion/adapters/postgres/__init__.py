from pathlib import Path

# Every table of the promotion service, in one Alembic branch.
MIGRATIONS = Path(__file__).parent / "migrations"

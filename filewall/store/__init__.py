"""The support desk's storage: SQLAlchemy models, repositories scoped by shop, migrations.

SQLite in the data folder by default, PostgreSQL by URL; the same code path for both.
"""

from .db import Database
from .models import ROLES, VERDICTS, ApiToken, LoginSession, Report, Sample, Shop, User
from .repo import AccountError, Accounts, ReportFilter, ShopScope

__all__ = [
    "ROLES",
    "VERDICTS",
    "AccountError",
    "Accounts",
    "ApiToken",
    "Database",
    "LoginSession",
    "Report",
    "ReportFilter",
    "Sample",
    "Shop",
    "ShopScope",
    "User",
]

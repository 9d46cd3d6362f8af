"""HTTP controllers: each decodes a msgspec struct, calls one use case, encodes the result."""

from dashcore_http.controllers.accounts import AccountsController
from dashcore_http.controllers.admin import AdminUsersController
from dashcore_http.controllers.auth import AuthController
from dashcore_http.controllers.exports import ExportsController
from dashcore_http.controllers.health import HealthController
from dashcore_http.controllers.jwks import JwksController
from dashcore_http.controllers.mfa import MfaController
from dashcore_http.controllers.orders import OrdersController
from dashcore_http.controllers.passwords import PasswordChangeController, PasswordResetController
from dashcore_http.controllers.portfolio import PortfolioController, QuotesController
from dashcore_http.controllers.providers import ProvidersController
from dashcore_http.controllers.splits import SplitsController
from dashcore_http.controllers.syncs import SyncsController
from dashcore_http.controllers.trades import TradesController
from dashcore_http.controllers.transactions import TransactionsController
from dashcore_http.controllers.webhooks import WebhooksController

__all__ = [
    "AccountsController",
    "AdminUsersController",
    "AuthController",
    "ExportsController",
    "HealthController",
    "JwksController",
    "MfaController",
    "OrdersController",
    "PasswordChangeController",
    "PasswordResetController",
    "PortfolioController",
    "ProvidersController",
    "QuotesController",
    "SplitsController",
    "SyncsController",
    "TradesController",
    "TransactionsController",
    "WebhooksController",
]

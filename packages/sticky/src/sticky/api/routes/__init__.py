"""The api service's routers."""

from sticky.api.routes import applications, categories, products, sessions, tap, things
from sticky.api.routes.payments import router as payments_router
from sticky.api.routes.webhooks import router as webhooks_router

routers = [
    things.router,
    applications.router,
    products.router,
    categories.router,
    sessions.router,
    tap.router,
    payments_router,
    webhooks_router,
]

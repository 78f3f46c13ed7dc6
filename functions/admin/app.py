"""The admin function: users, datasets, grants, archives."""

from chalicelib import routes, wiring

from functions.common.app import LomasChalice

app = LomasChalice(app_name="lomas-admin")
app.register_blueprint(routes.bp)
deps = wiring.deps

"""Lambda entrypoint of the admin function (a python3.13 zip): `functions.admin.handler.handler`."""

from functions.common.lambda_events import lambda_handler

handler = lambda_handler("admin")

"""Admin routes (admin token required). Each view: parse, one service, serialise."""

from chalice import Blueprint
from lomas.services import admin
from lomas_client import models as m

from chalicelib.wiring import deps
from functions.common.api import Call, endpoint

bp = Blueprint(__name__)
YAML_TYPES = ["application/x-yaml", "application/yaml", "text/yaml", "text/plain"]


@bp.route("/admin/users", methods=["POST"])
@endpoint(bp, deps, m.CreateUserRequest, admin=True, status=201)
def create_user(call: Call, req: m.CreateUserRequest) -> m.UserToken:
    return admin.create_user(call.ctx, req)


@bp.route("/admin/users", methods=["GET"])
@endpoint(bp, deps, admin=True)
def list_users(call: Call) -> m.UsersResponse:
    return admin.list_users(call.ctx)


@bp.route("/admin/users/{user_name}", methods=["GET"])
@endpoint(bp, deps, admin=True)
def get_user(call: Call, user_name: str) -> m.UserInfo:
    return admin.get_user(call.ctx, user_name)


@bp.route("/admin/users/{user_name}", methods=["DELETE"])
@endpoint(bp, deps, admin=True)
def delete_user(call: Call, user_name: str) -> None:
    admin.delete_user(call.ctx, user_name)


@bp.route("/admin/users/{user_name}", methods=["PATCH"])
@endpoint(bp, deps, m.PatchUserRequest, admin=True)
def patch_user(call: Call, req: m.PatchUserRequest, user_name: str) -> m.UserInfo:
    return admin.patch_user(call.ctx, user_name, req)


@bp.route("/admin/users/{user_name}/token", methods=["POST"])
@endpoint(bp, deps, admin=True)
def rotate_token(call: Call, user_name: str) -> m.UserToken:
    return admin.rotate_token(call.ctx, user_name)


@bp.route("/admin/datasets", methods=["POST"])
@endpoint(bp, deps, m.CreateDatasetRequest, admin=True, status=201)
def create_dataset(call: Call, req: m.CreateDatasetRequest) -> m.DatasetInfo:
    return admin.create_dataset(call.ctx, req)


@bp.route("/admin/datasets", methods=["GET"])
@endpoint(bp, deps, admin=True)
def list_datasets(call: Call) -> m.DatasetsResponse:
    return admin.list_datasets(call.ctx)


@bp.route("/admin/datasets/{dataset_name}", methods=["GET"])
@endpoint(bp, deps, admin=True)
def get_dataset(call: Call, dataset_name: str) -> m.DatasetInfo:
    return admin.get_dataset(call.ctx, dataset_name)


@bp.route("/admin/datasets/{dataset_name}/check", methods=["POST"])
@endpoint(bp, deps, admin=True)
def check_dataset(call: Call, dataset_name: str) -> m.DatasetCheckResponse:
    return admin.check_dataset(call.ctx, dataset_name)


@bp.route("/admin/datasets/{dataset_name}", methods=["DELETE"])
@endpoint(bp, deps, admin=True)
def delete_dataset(call: Call, dataset_name: str) -> None:
    admin.delete_dataset(call.ctx, dataset_name)


@bp.route("/admin/grants", methods=["GET"])
@endpoint(bp, deps, admin=True)
def list_grants(call: Call) -> m.GrantsResponse:
    return admin.list_grants(call.ctx, call.query_param("user_name"))


@bp.route("/admin/grants/{user_name}/{dataset_name}", methods=["PUT"])
@endpoint(bp, deps, m.GrantRequest, admin=True)
def put_grant(call: Call, req: m.GrantRequest, user_name: str, dataset_name: str) -> m.GrantInfo:
    return admin.put_grant(call.ctx, user_name, dataset_name, req)


@bp.route("/admin/grants/{user_name}/{dataset_name}", methods=["GET"])
@endpoint(bp, deps, admin=True)
def get_grant(call: Call, user_name: str, dataset_name: str) -> m.GrantInfo:
    return admin.get_grant(call.ctx, user_name, dataset_name)


@bp.route("/admin/grants/{user_name}/{dataset_name}", methods=["DELETE"])
@endpoint(bp, deps, admin=True)
def delete_grant(call: Call, user_name: str, dataset_name: str) -> None:
    admin.delete_grant(call.ctx, user_name, dataset_name)


@bp.route("/admin/archives", methods=["GET"])
@endpoint(bp, deps, admin=True)
def list_archives(call: Call) -> m.ArchivesResponse:
    return admin.archives(call.ctx, call.query_param("user_name"), call.query_param("dataset_name"))


@bp.route("/admin/import", methods=["POST"], content_types=[*YAML_TYPES, "application/json"])
@endpoint(bp, deps, admin=True, status=201)
def import_document(call: Call) -> m.ImportResponse:
    doc = admin.parse_import((call.request.raw_body or b"").decode("utf-8", errors="replace"))
    return admin.import_document(call.ctx, doc)

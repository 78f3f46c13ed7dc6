"""Admin routes (admin token required), from the route table. Each view: parse, one
service, serialise."""

from chalice import Blueprint, Response

from chalicelib import dashboard
from chalicelib.wiring import deps
from functions.common.api import Call, expose
from lomas.services import admin, bulk
from lomas_contract import models as m
from lomas_contract import routes as r

bp = Blueprint(__name__)


@expose(bp, deps, r.CREATE_USER)
def create_user(call: Call, req: m.CreateUserRequest) -> m.UserToken:
    return admin.create_user(call.ctx, req)


@expose(bp, deps, r.LIST_USERS)
def list_users(call: Call) -> m.UsersResponse:
    return admin.list_users(call.ctx)


@expose(bp, deps, r.GET_USER)
def get_user(call: Call, user_name: str) -> m.UserInfo:
    return admin.get_user(call.ctx, user_name)


@expose(bp, deps, r.DELETE_USER)
def delete_user(call: Call, user_name: str) -> None:
    admin.delete_user(call.ctx, user_name)


@expose(bp, deps, r.PATCH_USER)
def patch_user(call: Call, req: m.PatchUserRequest, user_name: str) -> m.UserInfo:
    return admin.patch_user(call.ctx, user_name, req)


@expose(bp, deps, r.ROTATE_TOKEN)
def rotate_token(call: Call, user_name: str) -> m.UserToken:
    return admin.rotate_token(call.ctx, user_name)


@expose(bp, deps, r.CREATE_DATASET)
def create_dataset(call: Call, req: m.CreateDatasetRequest) -> m.DatasetInfo:
    return admin.create_dataset(call.ctx, req)


@expose(bp, deps, r.LIST_DATASETS)
def list_datasets(call: Call) -> m.DatasetsResponse:
    return admin.list_datasets(call.ctx)


@expose(bp, deps, r.GET_DATASET)
def get_dataset(call: Call, dataset_name: str) -> m.DatasetInfo:
    return admin.get_dataset(call.ctx, dataset_name)


@expose(bp, deps, r.CHECK_DATASET)
def check_dataset(call: Call, dataset_name: str) -> m.DatasetCheckResponse:
    return admin.check_dataset(call.ctx, dataset_name)


@expose(bp, deps, r.DELETE_DATASET)
def delete_dataset(call: Call, dataset_name: str) -> m.DatasetRetired:
    return admin.delete_dataset(call.ctx, dataset_name)


@expose(bp, deps, r.LIST_GRANTS)
def list_grants(call: Call) -> m.GrantsResponse:
    return admin.list_grants(call.ctx, call.query_param("user_name"))


@expose(bp, deps, r.PUT_GRANT)
def put_grant(call: Call, req: m.GrantRequest, user_name: str, dataset_name: str) -> m.GrantInfo:
    return admin.put_grant(call.ctx, user_name, dataset_name, req)


@expose(bp, deps, r.GET_GRANT)
def get_grant(call: Call, user_name: str, dataset_name: str) -> m.GrantInfo:
    return admin.get_grant(call.ctx, user_name, dataset_name)


@expose(bp, deps, r.DELETE_GRANT)
def delete_grant(call: Call, user_name: str, dataset_name: str) -> m.GrantRevoked:
    return admin.delete_grant(call.ctx, user_name, dataset_name)


@expose(bp, deps, r.TOP_UP_GRANT)
def top_up_grant(call: Call, req: m.TopUpRequest, user_name: str,
                 dataset_name: str) -> m.GrantInfo:
    return admin.top_up_grant(call.ctx, user_name, dataset_name, req)


@expose(bp, deps, r.LIST_JOBS)
def list_jobs(call: Call) -> m.JobsResponse:
    return admin.list_jobs(call.ctx)


@expose(bp, deps, r.LIST_ARCHIVES)
def list_archives(call: Call) -> m.ArchivesResponse:
    return admin.archives(call.ctx, call.query_param("user_name"), call.query_param("dataset_name"))


@expose(bp, deps, r.IMPORT)
def import_document(call: Call) -> m.ImportResponse:
    doc = bulk.parse_import((call.request.raw_body or b"").decode("utf-8", errors="replace"))
    return bulk.import_document(call.ctx, doc)


@expose(bp, deps, r.DASHBOARD)
def dashboard_page() -> Response:
    return dashboard.redirect()


@expose(bp, deps, r.DASHBOARD_FILE)
def dashboard_file(file: str) -> Response:
    return dashboard.serve(file, deps().settings)

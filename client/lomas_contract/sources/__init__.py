"""The source kinds' registry: how an administrator says where a dataset's rows are.

Adding a source kind: a module here with its access model, one entry in `ACCESS`,
and its implementation in `lomas.sources.<kind>` (see docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from lomas_contract.base import Access
from lomas_contract.sources import http, local, postgres, s3, spark

ACCESS: dict[str, type[Access]] = {model.model_fields["type"].default: model for model in (
    local.LocalAccess,
    s3.S3Access,
    http.HttpAccess,
    postgres.PostgresAccess,
    spark.SparkAccess,
)}

if TYPE_CHECKING:
    DatasetAccess = Access
else:  # the union of every kind's access, told apart by `type`
    DatasetAccess = Annotated[Union[tuple(ACCESS.values())],  # noqa: UP007
                              Field(discriminator="type")]

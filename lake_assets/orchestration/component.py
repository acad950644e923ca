"""The lake's datasets as a Dagster component: a ``defs.yaml`` in the project's defs folder declares one dataset
(its name, kind, start date and vendor key template), and the component builds every definition of it.

``dg scaffold defs lake_assets.orchestration.component.LakeDataset <folder> --kind day_aggs`` writes a new
declaration; ``dg list defs`` shows what each builds. The ``lake`` command reads the same files
(:func:`declared_datasets`), so the project has one registry of datasets.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated

import dagster as dg
from pydantic import BaseModel, Field

from lake_assets.lake.datasets import DatasetSpec
from lake_assets.lake.datasets.config import KINDS, dataset_from_attributes, load_datasets
from lake_assets.orchestration.factory import build_dataset_defs

#: The project's defs folder, where the datasets are declared.
DEFS_FOLDER = Path(__file__).resolve().parents[1] / "defs"


class LakeDatasetParams(BaseModel):
    """What ``dg scaffold defs ... LakeDataset <folder>`` asks for; the folder's name names the dataset."""

    kind: str = Field(description=f"The shipped kind the dataset is built from: one of {sorted(KINDS)}.")
    start_date: str | None = Field(default=None, description="First day the vendor published (YYYY-MM-DD).")
    source: str | None = Field(default=None, description="The vendor's key template, e.g. feed/{yyyy}/{date}.csv.gz")


class LakeDatasetScaffolder(dg.Scaffolder[LakeDatasetParams]):
    """Writes a dataset's ``defs.yaml``, checked as the component will check it, so a typo fails at scaffold time."""

    @classmethod
    def get_scaffold_params(cls) -> type[LakeDatasetParams]:
        return LakeDatasetParams

    def scaffold(self, request: dg.ScaffoldRequest[LakeDatasetParams]) -> None:
        attributes: dict[str, object] = {"name": request.target_path.name,
                                         **request.params.model_dump(exclude_none=True)}
        spec = dataset_from_attributes(attributes, str(request.target_path / "defs.yaml"))
        if "start_date" in attributes:
            attributes["start_date"] = spec.start_date  # written as a YAML date, not a string
        dg.scaffold_component(request, attributes)


@dg.scaffold_with(LakeDatasetScaffolder)
class LakeDataset(dg.Component, dg.Model, dg.Resolvable):
    """One dataset of the lake: the vendor's daily files mirrored and curated into Hive-partitioned objects,
    their checks, monthly rollup, sensors and due schedule (:func:`~lake_assets.orchestration.factory.
    build_dataset_defs`)."""

    name: str = Field(description="The dataset's name: lower case, digits and underscores; it names the assets, "
                                  "`dataset=<name>` in the lake, the jobs and the sensors.")
    kind: str | None = Field(default=None, description=f"The shipped kind it is built from (schema, keys, checks, "
                                                       f"calendar, due hour, rollup): one of {sorted(KINDS)}; "
                                                       "defaults to the name.")
    start_date: Annotated[date | None, dg.Resolver(lambda context, value: value, model_field_type=date | None)] = Field(
        default=None, description="The first day the vendor published (2024-01-02); defaults to the kind's.")
    source: str | None = Field(default=None, description="The vendor's key template in the vendor bucket, with "
                                                         "{yyyy} {mm} {dd} {date} {yyyymmdd}; defaults to the kind's.")

    def spec(self, where: str) -> DatasetSpec:
        """The dataset these attributes declare; ``where`` names the declaration in an error."""
        return dataset_from_attributes(self.model_dump(exclude_none=True), where)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        declaration = context.path / "defs.yaml" if context.path.is_dir() else context.path
        return build_dataset_defs(self.spec(str(declaration)))


#: The component's type as a ``defs.yaml`` names it.
COMPONENT_TYPE = f"{LakeDataset.__module__}.{LakeDataset.__name__}"


@cache
def declared_datasets(folder: Path = DEFS_FOLDER) -> tuple[DatasetSpec, ...]:
    """Every dataset the defs folder declares, in path order: what the code location builds from them."""
    return load_datasets(folder, COMPONENT_TYPE)

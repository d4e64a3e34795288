"""What makes the sandbox server boot and replay faster without changing what moto answers.

A restart is counted in how long a class waits (issue 21: 300 sandboxes back within 10 s of a
``kill -9``), so the server's boot and its cost per replayed call matter. Profiled (cProfile in
the server process, ``time.process_time`` splits), moto spent, on work whose result nobody reads:

- at import, half a second building ``RegionsAndZonesBackend.regions``: three new boto3
  sessions, each loading botocore's endpoint data again (``_one_endpoint_loader``);
- at import, reading the instance type offerings of every region (99 JSON files) when the lab
  uses one region; the others are read on first use (``_LazyOfferings``);
- on every RunInstances, matching the instance type against each of the region's ~1,300
  offerings, a result moto throws away unless ``MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION`` is
  set (``_instance_type_check_skipped``): 10 % of a rebuilt lab sandbox's replay;
- on every backend lookup, copying the list of every account's keys to see whether the
  account is new (``_account_known``): grows with the number of sandboxes.

Importing this module does the import-time part (``before_moto_import``): ``server.py`` imports
it before moto; ``install()`` does the rest, after moto is imported. Each change keeps moto's
answers and ids as they were: tests/sandbox/test_replay_fast.py checks each against moto's own.
"""

import os
from pathlib import Path

LAB_REGIONS = ("us-east-1",)  # the gate's lab region for EC2 (gate/limits.py): read at import
OFFERINGS = "resources/instance_type_offerings"
_installed = False


def _one_endpoint_loader() -> None:
    """Every boto3 session moto makes asks one shared session for its regions: botocore's
    endpoint data is loaded once, not once per session (three at import)."""
    import boto3.session

    available = boto3.session.Session.get_available_regions
    shared = []

    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        if not shared:
            shared.append(self)
        return available(shared[0], service_name, partition_name, allow_non_regional)

    get_available_regions.__doc__ = available.__doc__
    boto3.session.Session.get_available_regions = get_available_regions


class _LazyOfferings(dict):
    """One location type's offerings by region (moto's ``INSTANCE_TYPE_OFFERINGS[type]``), the
    lab's regions read at import and any other on first use, exactly as moto reads them."""

    def __init__(self, location_type: str, loaded: dict, files: dict[str, str]):
        super().__init__(loaded)
        self.location_type, self.files = location_type, files

    def _load(self, region) -> None:
        if region in self.files and not dict.__contains__(self, region):
            from moto.utilities.utils import load_resource

            offerings = load_resource(self.files[region])
            for offering in offerings:
                offering["LocationType"] = self.location_type
            dict.__setitem__(self, region, offerings)

    def _load_all(self) -> None:
        for region in self.files:
            self._load(region)

    def __getitem__(self, region):
        self._load(region)
        return dict.__getitem__(self, region)

    def get(self, region, default=None):
        self._load(region)
        return dict.get(self, region, default)

    def __contains__(self, region) -> bool:
        return region in self.files or dict.__contains__(self, region)

    def __iter__(self):
        self._load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load_all()
        return dict.__len__(self)

    def keys(self):
        self._load_all()
        return dict.keys(self)

    def values(self):
        self._load_all()
        return dict.values(self)

    def items(self):
        self._load_all()
        return dict.items(self)

    def __eq__(self, other) -> bool:
        self._load_all()
        return dict.__eq__(self, other)

    __hash__ = None


def _lab_offerings_only(listdir):
    """``os.listdir`` as moto's instance_types module sees it while it loads: in an offerings
    folder, only the lab's regions' files (the others are listed for ``_LazyOfferings``)."""
    skipped: dict[str, dict[str, str]] = {}

    def listdir_lab(path):
        names = listdir(path)
        folder = Path(path)
        if folder.parent.name != Path(OFFERINGS).name:
            return names
        location_type = folder.name
        kept = []
        for name in names:
            region = name.split(".")[0]
            if region in LAB_REGIONS:
                kept.append(name)
            else:
                resource = os.path.join("ec2", OFFERINGS, location_type, name)
                skipped.setdefault(location_type, {})[region] = resource
        return kept

    return listdir_lab, skipped


def before_moto_import() -> None:
    """The import-time savings: run before anything imports moto."""
    _one_endpoint_loader()
    listdir = os.listdir
    listdir_lab, skipped = _lab_offerings_only(listdir)
    os.listdir = listdir_lab
    try:
        from moto.ec2.models import instance_types
    finally:
        os.listdir = listdir
    instance_types.listdir = listdir
    offerings = instance_types.INSTANCE_TYPE_OFFERINGS
    for location_type, loaded in list(offerings.items()):
        # The same dict object moto's modules imported: its values are replaced in place.
        offerings[location_type] = _LazyOfferings(
            location_type, loaded, skipped.get(location_type, {})
        )


class _InstanceTypeCheckSkipped:
    """``InstanceTypeOfferingBackend`` as RunInstances uses it: it asks, for each of the
    region's offerings, whether it matches the instance type, and ignores the answer unless
    moto validates instance types. Then it is asked of moto's own; otherwise the first
    offering says yes and ``any()`` stops there."""

    def __init__(self, real):
        self.real = real

    def __call__(self):
        return self

    def matches_filters(self, offering, filters, location_type) -> bool:
        from moto import settings

        if settings.EC2_ENABLE_INSTANCE_TYPE_VALIDATION:
            return self.real().matches_filters(offering, filters, location_type)
        return True


def _account_known(create):
    """``BackendDict[account]`` first checks ``account not in list(self.keys())`` (a copy of
    every account's keys) and ``self in BackendDict._instances`` (an ``__eq__`` a service):
    for an account it holds already, and a dict registered already, neither can change."""
    from moto.core.base_backend import BackendDict

    def create_if_new(self, account_id):
        if dict.__contains__(self, account_id) and any(
            known is self for known in BackendDict._instances
        ):
            return
        create(self, account_id)

    return create_if_new


def install() -> None:
    """The per-call savings: after moto is imported, once per process."""
    global _installed
    if _installed:
        return
    from moto.core.base_backend import BackendDict
    from moto.ec2.models import instances

    instances.InstanceTypeOfferingBackend = _InstanceTypeCheckSkipped(
        instances.InstanceTypeOfferingBackend
    )
    BackendDict._create_account_specific_backend = _account_known(
        BackendDict._create_account_specific_backend
    )
    _installed = True


before_moto_import()

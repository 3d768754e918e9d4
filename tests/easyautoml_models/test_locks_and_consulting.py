"""Table write locks with owner and expiry; one consulting status at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from easyautoml_models.factories import ConsultingRequestFactory
from easyautoml_models.models import ConsultingRequest, MachineTableLockWrite

pytestmark = pytest.mark.django_db

TABLE = "Machine_7_DataInputLines"


def test_a_lock_belongs_to_its_owner_until_it_expires() -> None:
    locks = MachineTableLockWrite.objects
    assert locks.acquire(TABLE, "worker-a", ttl=60)
    assert not locks.acquire(TABLE, "worker-b", ttl=60)
    assert locks.acquire(TABLE, "worker-a", ttl=60)  # renewal
    assert not locks.release(TABLE, "worker-b")  # nobody releases another owner's lock
    assert locks.get(table_name=TABLE).locked_by == "worker-a"
    locks.filter(table_name=TABLE).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert list(locks.expired()) == [locks.get(table_name=TABLE)]
    assert locks.acquire(TABLE, "worker-b", ttl=60)  # expired: taken over
    assert not locks.release(TABLE, "worker-a")
    assert locks.release(TABLE, "worker-b")
    assert not locks.filter(table_name=TABLE).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(("", "a"), "table name and an owner"), ((TABLE, ""), "owner"), ((TABLE, "a", 0), "ttl")],
)
def test_bad_lock_requests_are_refused(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        MachineTableLockWrite.objects.acquire(*args)
    assert MachineTableLockWrite.objects.count() == 0


def test_consulting_request_has_at_most_one_status() -> None:
    request = ConsultingRequestFactory.create()
    assert request.status == "request_open"
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsultingRequest.objects.filter(pk=request.pk).update(is_status_contract=True)
    ConsultingRequest.objects.filter(pk=request.pk).update(
        is_status_request_open=None, is_status_contract=True
    )
    assert ConsultingRequest.objects.get(pk=request.pk).status == "contract"

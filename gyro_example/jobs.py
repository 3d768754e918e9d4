"""The seed's slice of the example shop, as Gyro jobs (``manage.py gyro_export --jobs ...``).

One tenant, some of its shops, all their products, at most 100 customers, at most 10 orders per
customer (the newest), and all items of those orders. Each queryset reuses the previous ones with
``__in``, so the files agree with each other. (The seed filters ``OrderItem`` by ``customer``,
a field it does not have; the items are selected through their orders instead.)
"""

from __future__ import annotations

from django_gyro import ImportJob, limit_per, per, plan_slice
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant

__all__ = ["DEMO_TENANT", "build_jobs", "jobs", "planned_jobs"]

#: The tenant the demo data always contains (``gyro_example_data``).
DEMO_TENANT = "acme"


def build_jobs(
    tenant: str = DEMO_TENANT,
    shops: int | None = 3,
    max_customers: int | None = 100,
    orders_per_customer: int | None = 10,
) -> list[ImportJob]:
    """The jobs of one tenant's slice.

    Args:
        tenant: the tenant's subdomain.
        shops: how many of its shops (the first by primary key); None for all.
        max_customers: at most this many customers of those shops; None for all.
        orders_per_customer: at most this many orders per customer, newest first; None for all.
    """
    tenants = Tenant.objects.filter(subdomain=tenant)
    shop_qs = Shop.objects.filter(tenant__in=tenants).order_by("pk")
    if shops is not None:
        shop_qs = shop_qs[:shops]
    products = Product.objects.filter(shop__in=shop_qs)
    customers = Customer.objects.filter(shop__in=shop_qs)
    if max_customers is not None:
        customers = customers[:max_customers]  # gyro orders an unordered slice by pk
    orders = Order.objects.filter(customer__in=customers)
    if orders_per_customer is not None:
        orders = limit_per(orders, "customer", orders_per_customer, order_by="-created_at")
    items = OrderItem.objects.filter(order__in=orders)
    return [
        ImportJob(model=Tenant, query=tenants),
        ImportJob(model=Shop, query=shop_qs),
        ImportJob(model=Product, query=products),
        ImportJob(model=Customer, query=customers),
        ImportJob(model=Order, query=orders),
        ImportJob(model=OrderItem, query=items),
    ]


def jobs() -> list[ImportJob]:
    """The seed's slice of the demo tenant (what ``gyro_export --jobs`` calls)."""
    return build_jobs()


def planned_jobs(tenant: str = DEMO_TENANT) -> list[ImportJob]:
    """The same slice, planned from the tenant by :func:`django_gyro.plan_slice`.

    The planner follows the Importers' ``Columns`` down from the tenant, filtering every model by
    all of its parents in the slice, with the caps of :func:`build_jobs`; the files are the same.
    From the command line: ``gyro_export --root gyro_example.Tenant:subdomain=acme --cap
    gyro_example.Shop=3 --cap gyro_example.Customer=100 --cap-per
    gyro_example.Order=customer:10:-created_at``.
    """
    return plan_slice(
        Tenant.objects.filter(subdomain=tenant),
        caps={Shop: 3, Customer: 100, Order: per("customer", 10, order_by="-created_at")},
    )

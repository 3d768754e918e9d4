"""The Importers of the example models (seed 004; its ``Site`` is this app's ``Shop``)."""

from __future__ import annotations

from django_gyro import Importer
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant

__all__ = [
    "CustomerImporter",
    "OrderImporter",
    "OrderItemImporter",
    "ProductImporter",
    "ShopImporter",
    "TenantImporter",
]


class TenantImporter(Importer):
    model = Tenant

    class Columns:
        pass


class ShopImporter(Importer):
    model = Shop

    class Columns:
        tenant = Tenant


class CustomerImporter(Importer):
    model = Customer

    class Columns:
        tenant = Tenant
        shop = Shop


class ProductImporter(Importer):
    model = Product

    class Columns:
        tenant = Tenant
        shop = Shop


class OrderImporter(Importer):
    model = Order

    class Columns:
        tenant = Tenant
        shop = Shop
        customer = Customer


class OrderItemImporter(Importer):
    model = OrderItem

    class Columns:
        tenant = Tenant
        shop = Shop
        order = Order
        product = Product

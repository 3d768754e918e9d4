"""Ledger entries and Operations append-only for every client; money columns exact on SQLite.

On PostgreSQL a trigger refuses every UPDATE and DELETE of a ledger row or an Operation, except
Django's own ``SET NULL`` of a deleted user or machine (the foreign-key columns named in the
trigger's arguments may become NULL; nothing else may change). SQLite gets the ORM guard only:
its test databases are emptied with DELETE, which such a trigger would refuse.
"""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models

import easyautoml_models.fields

FUNCTION = "easyautoml_append_only"
#: table -> the foreign-key columns Django's SET_NULL may clear
APPEND_ONLY = {
    "billing_credit": ["user_id"],
    "billing_debit": ["user_id"],
    "billing_creditixioo": ["user_id"],
    "billing_debitixioo": ["user_id"],
    "billing_operation": ["machine_id", "billing__machine_owner", "operation_user_id"],
}
CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    nullable text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% rows are append-only: never deleted', TG_TABLE_NAME;
    END IF;
    old_row := to_jsonb(OLD);
    new_row := to_jsonb(NEW);
    FOREACH nullable IN ARRAY TG_ARGV LOOP
        IF jsonb_typeof(new_row -> nullable) = 'null' THEN
            old_row := old_row - nullable;
            new_row := new_row - nullable;
        END IF;
    END LOOP;
    IF old_row IS DISTINCT FROM new_row THEN
        RAISE EXCEPTION '% rows are append-only: add an opposite entry instead of updating',
            TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$$;
"""


def install_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    schema_editor.execute(CREATE_FUNCTION, params=None)  # its "%" are PL/pgSQL, not params
    for table, nullable in APPEND_ONLY.items():
        arguments = ", ".join(schema_editor.quote_value(column) for column in nullable)
        schema_editor.execute(
            f"CREATE TRIGGER {qn(table + '_append_only')} BEFORE UPDATE OR DELETE ON {qn(table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({arguments})"
        )


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    for table in APPEND_ONLY:
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {qn(table + '_append_only')} ON {qn(table)}"
        )
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [
        ("easyautoml_models", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="credit",
            options={"base_manager_name": "objects"},
        ),
        migrations.AlterModelOptions(
            name="creditixioo",
            options={
                "base_manager_name": "objects",
                "verbose_name": "credit IXIOO",
                "verbose_name_plural": "credits IXIOO",
            },
        ),
        migrations.AlterModelOptions(
            name="debit",
            options={"base_manager_name": "objects"},
        ),
        migrations.AlterModelOptions(
            name="debitixioo",
            options={
                "base_manager_name": "objects",
                "verbose_name": "debit IXIOO",
                "verbose_name_plural": "debits IXIOO",
            },
        ),
        migrations.AlterModelOptions(
            name="operation",
            options={"base_manager_name": "objects", "default_manager_name": "objects"},
        ),
        migrations.AlterModelOptions(
            name="user",
            options={"base_manager_name": "objects"},
        ),
        migrations.AlterField(
            model_name="credit",
            name="amount",
            field=easyautoml_models.fields.MoneyField(
                decimal_places=8,
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("1E-8"))],
            ),
        ),
        migrations.AlterField(
            model_name="creditixioo",
            name="amount",
            field=easyautoml_models.fields.MoneyField(
                decimal_places=8,
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("1E-8"))],
            ),
        ),
        migrations.AlterField(
            model_name="debit",
            name="amount",
            field=easyautoml_models.fields.MoneyField(
                decimal_places=8,
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("1E-8"))],
            ),
        ),
        migrations.AlterField(
            model_name="debitixioo",
            name="amount",
            field=easyautoml_models.fields.MoneyField(
                decimal_places=8,
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("1E-8"))],
            ),
        ),
        migrations.AlterField(
            model_name="user",
            name="coupon_balance",
            field=easyautoml_models.fields.MoneyField(
                blank=True,
                decimal_places=8,
                default=Decimal("0"),
                help_text="Coupons",
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("0"))],
            ),
        ),
        migrations.AlterField(
            model_name="user",
            name="user_balance",
            field=easyautoml_models.fields.MoneyField(
                blank=True,
                decimal_places=8,
                default=Decimal("0"),
                help_text="USD balance; changed only through Credit and Debit",
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("0"))],
            ),
        ),
        migrations.AlterField(
            model_name="user",
            name="user_ixioo_balance",
            field=easyautoml_models.fields.MoneyField(
                blank=True,
                decimal_places=8,
                default=Decimal("0"),
                help_text="EAML token balance; changed only through CreditIXIOO and DebitIXIOO",
                max_digits=20,
                validators=[django.core.validators.MinValueValidator(Decimal("0"))],
            ),
        ),
        migrations.AddField(
            model_name="credit",
            name="idempotency_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="At most one entry per key: a retried credit or debit moves money once",
                max_length=255,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="creditixioo",
            name="idempotency_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="At most one entry per key: a retried credit or debit moves money once",
                max_length=255,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="debit",
            name="idempotency_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="At most one entry per key: a retried credit or debit moves money once",
                max_length=255,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="debitixioo",
            name="idempotency_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="At most one entry per key: a retried credit or debit moves money once",
                max_length=255,
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="credit",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("idempotency_key",),
                name="billing_credit_key_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditixioo",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("idempotency_key",),
                name="billing_creditixioo_key_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="debit",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("idempotency_key",),
                name="billing_debit_key_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="debitixioo",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("idempotency_key",),
                name="billing_debitixioo_key_unique",
            ),
        ),
        migrations.RunPython(install_triggers, remove_triggers, elidable=False),
    ]

"""EasyAutoML-Core's optimizer and loss values ("Adam", "mean_absolute_error", ...).

The choices become the values EasyAutoML-Core's ``ML/NNConfiguration.py`` stores, and the rows
written with 0001's lower-case values are mapped onto them (and back on reverse).
"""

from django.db import migrations, models

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
LOSSES = {"mae": "mean_absolute_error", "mse": "mean_squared_error"}


def _remap(apps, schema_editor, forward):
    Machine = apps.get_model("easyautoml_models", "Machine")
    db = schema_editor.connection.alias
    for field, mapping in (("parameter_nn_optimizer", OPTIMIZERS), ("parameter_nn_loss", LOSSES)):
        for old, new in mapping.items():
            src, dst = (old, new) if forward else (new, old)
            Machine._base_manager.using(db).filter(**{field: src}).update(**{field: dst})


def forwards(apps, schema_editor):
    _remap(apps, schema_editor, forward=True)


def backwards(apps, schema_editor):
    _remap(apps, schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("easyautoml_models", "0002_ledger_doors"),
    ]

    operations = [
        migrations.AlterField(
            model_name="machine",
            name="parameter_nn_loss",
            field=models.CharField(
                choices=[
                    ("mean_absolute_error", "mean_absolute_error"),
                    ("mean_squared_error", "mean_squared_error"),
                    ("binary_crossentropy", "binary_crossentropy"),
                ],
                max_length=100,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="machine",
            name="parameter_nn_optimizer",
            field=models.CharField(
                choices=[
                    ("Adam", "Adam"),
                    ("SGD", "SGD"),
                    ("RMSprop", "RMSprop"),
                    ("Adadelta", "Adadelta"),
                ],
                max_length=150,
                null=True,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]

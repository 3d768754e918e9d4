"""Graph: a saved chart configuration over a machine's data."""

from __future__ import annotations

from django.db import models

__all__ = ["DATETIME_COLUMNS", "FLOAT_COLUMNS", "GRAPH_TYPES", "Graph"]

#: The chart types, value -> label (verbatim from the original).
GRAPH_TYPES = [
    (1, "Scatterplot with multiple semantics"),
    (2, "Timeseries plot with error bands"),
    (3, "Hexbin plot with marginal distributions"),
    (4, "Stacked histogram on a log scale"),
    (5, "Bivariate plot with multiple elements"),
    (6, "Scatterplot with continuous hues and sizes"),
    (7, "Linear regression with marginal distributions"),
    (8, "Grouped boxplots"),
    (9, "Grouped violinplots with split violins"),
    (10, "Plotting a three-way ANOVA"),
    (11, "Plotting large distributions"),
    (12, "Horizontal boxplot with observations"),
    (13, "Horizontal bar plots"),
]
#: Graph types whose axes need FLOAT columns.
FLOAT_COLUMNS = [3, 5, 7]
#: Graph types whose x axis needs a DATETIME column.
DATETIME_COLUMNS = [5]


class Graph(models.Model):
    """A chart of a machine's data: its type and the columns on each channel."""

    machine = models.ForeignKey("easyautoml_models.Machine", on_delete=models.CASCADE)
    timestamp = models.DateTimeField(auto_now_add=True)
    graph_type = models.IntegerField(default=1, choices=GRAPH_TYPES)
    hue = models.CharField(max_length=255, null=True, default="Light24")
    x = models.CharField(max_length=255, null=True, blank=True)
    y = models.CharField(max_length=255, null=True, blank=True)
    z = models.CharField(max_length=255, null=True, blank=True)
    color = models.CharField(max_length=255, null=True, blank=True)
    animation_frame = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "Graph"
        indexes = [models.Index(fields=["machine"], name="graph_machine_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(graph_type__gte=1, graph_type__lte=len(GRAPH_TYPES)),
                name="graph_type_known",
            )
        ]

    def __str__(self) -> str:
        return self.graph_title

    @property
    def graph_type_str(self) -> str:
        """The label of :attr:`graph_type` (``"Unknown graph type N"`` when out of range)."""
        return dict(GRAPH_TYPES).get(self.graph_type, f"Unknown graph type {self.graph_type}")

    @property
    def graph_title(self) -> str:
        """A title: the type's label and the plotted columns."""
        axes = " / ".join(value for value in (self.x, self.y, self.z) if value)
        return f"{self.graph_type_str}: {axes}" if axes else self.graph_type_str

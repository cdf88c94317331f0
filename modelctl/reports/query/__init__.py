"""The reports' aggregations in Athena: SQL over the log bucket's Glue tables (`sql`), the Athena
runner (`athena`), the documents built from the aggregates (`documents`, `shadow`) and the choice
of engine (`engine`). docs/queries.md describes the layout, the tables and the costs."""

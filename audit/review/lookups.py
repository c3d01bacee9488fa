"""`text__fulltext="words"`: PostgreSQL's full-text match, whole words in any order and case,
through a GIN index on the text (migration streams 0012). Only PostgreSQL has it; the
review queue's search uses substring matches elsewhere."""

from django.db import models


class FullText(models.Lookup):
    lookup_name = "fulltext"

    def as_sql(self, compiler, connection):
        raise NotImplementedError("fulltext is a PostgreSQL lookup")

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        config = "'simple'::regconfig"
        sql = f"to_tsvector({config}, {lhs}) @@ plainto_tsquery({config}, {rhs})"
        return sql, (*lhs_params, *rhs_params)


def register() -> None:
    models.CharField.register_lookup(FullText)
    models.TextField.register_lookup(FullText)

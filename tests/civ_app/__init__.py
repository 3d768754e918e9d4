"""Test app of ``civ_orm_compat``: the seed's example models, written against the CIV API."""

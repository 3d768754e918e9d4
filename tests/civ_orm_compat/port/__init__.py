"""A small application written against the original CIV/Emu-Soft ``database`` API, the way its
users wrote ``auth/``, ``admin/`` and ``api/serializers.py``: only ``database.`` was replaced by
``civ_orm_compat.`` in the imports. The tests in ``test_port.py`` run it on every backend."""

"""Settings of the host project (``DJANGO_SETTINGS_MODULE=settings``).

Everything environment-specific is read with django-environ from the process environment and an
optional ``.env`` file at the project root. Every variable and its default is listed in README.md.
"""

from __future__ import annotations

import environ

from settings.database import BASE_DIR, database_settings

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# Development defaults: DEBUG on, a fixed key that says it is insecure. Production sets both.
DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-development-key-do-not-use-in-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "easyautoml_models",
    "django_gyro",
    "gyro_example",
    "civ_orm_compat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = database_settings(env)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "easyautoml_models.User"

# gyro_example's Importers are django-gyro's seed example, unmasked on purpose, over generated
# demo data: gyro.W002 (personal columns exported unmasked) would precede every manage.py
# command. `./run demo` lists those columns itself; a site exporting real data keeps the warning.
SILENCED_SYSTEM_CHECKS = ["gyro.W002"]
# django_gyro's mask salt, only from the environment (never committed); unset: masking refuses.
GYRO_MASK_SALT = env.str("GYRO_MASK_SALT", default=None)

# EasyAutoML money: every DecimalField without explicit precision uses these.
MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS = 20
MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES = 8

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

"""Cleanup across the apps: the trash (kinds of deleted things each app registers), purge jobs, retention."""

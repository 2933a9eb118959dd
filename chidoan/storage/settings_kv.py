"""Small key/value facts learned at run time, e.g. the bot username from getMe."""

from sqlalchemy import Connection, select

from chidoan.storage.models import Setting, table

SETTING = table(Setting)


class KeyValues:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, key: str) -> str | None:
        return self.conn.execute(select(SETTING.c.value).where(SETTING.c.key == key)).scalar()

    def put(self, key: str, value: str) -> None:
        if self.get(key) is None:
            self.conn.execute(SETTING.insert().values(key=key, value=value))
        else:
            self.conn.execute(SETTING.update().where(SETTING.c.key == key).values(value=value))

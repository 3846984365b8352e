"""ticket numbers from a sequence per day, taken in the filing's own insert

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# nextval() takes no lock that lasts to the commit, so filings never queue behind one
# counter; the day's sequence is created by the first filing of the day (any replica).
NEXT_TICKET_NO = """
CREATE FUNCTION next_ticket_no(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    seq text := 'ticket_seq_' || to_char(day, 'YYYYMMDD');
    n bigint;
BEGIN
    BEGIN
        n := nextval(seq::regclass);
    EXCEPTION WHEN undefined_table THEN
        BEGIN
            EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', seq);
        EXCEPTION WHEN unique_violation OR duplicate_table THEN
            NULL;  -- another filing created it first
        END;
        n := nextval(seq::regclass);
    END;
    IF n > 999999 THEN
        RAISE EXCEPTION 'daily ticket sequence exhausted (%)', seq;
    END IF;
    RETURN to_char(day, 'YYYYMMDD') || lpad(n::text, 6, '0');
END
$$
"""

CARRY_ON = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT day, last FROM ticket_counters WHERE day >= current_date - 1 LOOP
        EXECUTE format(
            'CREATE SEQUENCE IF NOT EXISTS %I START WITH %s',
            'ticket_seq_' || to_char(r.day, 'YYYYMMDD'), r.last + 1
        );
    END LOOP;
END
$$
"""

BACK_TO_COUNTERS = """
DO $$
DECLARE r record; n bigint;
BEGIN
    FOR r IN SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE 'ticket\\_seq\\_%' LOOP
        EXECUTE format('SELECT last_value FROM %I', r.relname) INTO n;
        INSERT INTO ticket_counters (day, last)
        VALUES (to_date(right(r.relname, 8), 'YYYYMMDD'), n)
        ON CONFLICT (day) DO UPDATE SET last = greatest(ticket_counters.last, excluded.last);
        EXECUTE format('DROP SEQUENCE %I', r.relname);
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute(NEXT_TICKET_NO)
    op.execute(CARRY_ON)


def downgrade() -> None:
    op.execute(BACK_TO_COUNTERS)
    op.execute("DROP FUNCTION next_ticket_no(date)")

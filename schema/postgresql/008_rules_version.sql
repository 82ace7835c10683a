-- 008_rules_version: a change to rcpt_rules moves the lists' counter too, as one to list_entries
-- does (schema/sqlite/008_rules_version.sql).  The runner wraps this file in a transaction and
-- records the version itself.
CREATE TRIGGER rcpt_rules_changed AFTER INSERT OR UPDATE OR DELETE ON rcpt_rules
    FOR EACH ROW EXECUTE FUNCTION lists_version_bump();

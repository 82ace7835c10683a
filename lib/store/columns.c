/*
 * store/columns: the column tables of the listings and the loop that fills a row's struct from
 * them (columns.h says why they are written once for every backend).
 */
#include "columns.h"

#include <string.h>

#include "store.h"

#define HELD(field) STORE_COLUMN(struct store_held, field)
static const struct store_column held[] = {
    HELD(id),         HELD(queue_id),        HELD(held_at), HELD(account),
    HELD(sender),     HELD(recipients),      HELD(nrcpt),   HELD(subject),
    HELD(size),       HELD(reason),          HELD(state),   HELD(decided_by),
    HELD(decided_at), HELD(decision_reason), HELD(host),
};
const struct store_columns store_held_columns = {held, sizeof held / sizeof held[0]};

#define REVIEW(field) STORE_COLUMN(struct store_review, field)
static const struct store_column review[] = {
    REVIEW(id),   REVIEW(ref),   REVIEW(at),        REVIEW(client),    REVIEW(contact),
    REVIEW(text), REVIEW(state), REVIEW(closed_by), REVIEW(closed_at), REVIEW(reason),
};
const struct store_columns store_review_columns = {review, sizeof review / sizeof review[0]};

void store_columns_read(const struct store_columns *cols, const struct store_column_reader *r,
                        void *src, void *out)
{
    for (size_t i = 0; i < cols->n; i++) {
        char *field = (char *)out + cols->col[i].offset;
        if (cols->col[i].kind == STORE_COLUMN_TEXT) {
            const char *text = r->text(src, (int)i);
            memcpy(field, &text, sizeof text);
        } else {
            int64_t value = r->integer(src, (int)i);
            memcpy(field, &value, sizeof value);
        }
    }
}

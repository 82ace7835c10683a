/*
 * store/columns.h: the columns of a listing's row, in the order both dialects' SELECT gives them,
 * written once for every backend.  Private to lib/store/.
 *
 * A backend reads column i of its current row into the field cols->col[i] names, through its own
 * two readers (text: NULL for SQL NULL, borrowed from the row; integer: 0 for NULL).  The field's
 * type picks the reader at compile time (STORE_COLUMN), so a column table cannot write a text
 * into an integer field or the other way round.
 */
#ifndef INGRESS_STORE_COLUMNS_H
#define INGRESS_STORE_COLUMNS_H

#include <stddef.h>
#include <stdint.h>

enum store_column_kind { STORE_COLUMN_INT, STORE_COLUMN_TEXT };

struct store_column {
    size_t offset; /* of the field in the row's struct */
    enum store_column_kind kind;
};

/* The column of field of type (a struct); a field neither int64_t nor const char * is an error. */
#define STORE_COLUMN(type, field)                                                                  \
    {                                                                                              \
        offsetof(type, field), STORE_COLUMN_KIND(((type *)0)->field)                               \
    }
#define STORE_COLUMN_KIND(lvalue)                                                                  \
    _Generic((lvalue), int64_t : STORE_COLUMN_INT, const char * : STORE_COLUMN_TEXT)

struct store_columns {
    const struct store_column *col;
    size_t n;
};

/* The rows of store_held_each (struct store_held) and store_review_each (struct store_review). */
extern const struct store_columns store_held_columns;
extern const struct store_columns store_review_columns;

/* How a backend reads column col of its current row src. */
struct store_column_reader {
    const char *(*text)(void *src, int col);
    int64_t (*integer)(void *src, int col);
};

/* Fills every field of out (a struct of the type cols describes) from the row src. */
void store_columns_read(const struct store_columns *cols, const struct store_column_reader *r,
                        void *src, void *out);

#endif

# embed.cmake: compiles one SQL dialect's schema migrations into the binary, so an installed milter
# needs no data files.
#
#   cmake -DSCHEMA_DIR=schema/sqlite -DDIALECT=sqlite \
#         "-DSET_VERSION=PRAGMA user_version=@VERSION@" -DOUTPUT=schema_sqlite.c -P schema/embed.cmake
#
# Reads SCHEMA_DIR/NNN_name.sql and writes OUTPUT, a C file defining store_migrations_DIALECT[]
# and store_migration_count_DIALECT (lib/store/migrations.h).  Every dialect has the same versions,
# and they must run 1..N without a gap or a duplicate: a missing file would leave databases in
# different shapes at the same version.  SET_VERSION, when given, is the statement that records a
# version (@VERSION@ replaced by the number), for an engine whose version cannot be a bound
# parameter: written here at build time, no SQL text is assembled at run time.
#
# Every byte goes through one escape table built from the file's hex dump, so nothing in the SQL
# (quotes, backslashes, semicolons, which CMake treats as list separators, "??" trigraphs, which
# -std=c11 honours, or non-ASCII bytes) can break the C literal.  A NUL byte fails the build:
# sqlite3_exec() would silently stop there.

cmake_minimum_required(VERSION 3.18)

if(NOT DEFINED SCHEMA_DIR OR NOT DEFINED OUTPUT OR NOT DEFINED DIALECT)
  message(FATAL_ERROR
    "usage: cmake -DSCHEMA_DIR=DIR -DDIALECT=NAME [-DSET_VERSION=SQL] -DOUTPUT=FILE.c -P embed.cmake")
endif()
if(NOT DIALECT MATCHES "^[a-z]+$")
  message(FATAL_ERROR "schema: DIALECT must be a lower-case word (it names C symbols)")
endif()
get_filename_component(SCHEMA_DIR "${SCHEMA_DIR}" ABSOLUTE)
get_filename_component(OUTPUT "${OUTPUT}" ABSOLUTE)
if(NOT IS_DIRECTORY "${SCHEMA_DIR}")
  message(FATAL_ERROR "schema: ${SCHEMA_DIR} is not a directory")
endif()

# escape_<hh>: how byte 0xhh is written inside a C string literal.  A newline ends the literal's
# line so the generated file reads like the SQL; octal escapes never swallow a following digit
# (unlike \x, which takes every hex digit that follows).
foreach(code RANGE 0 255)
  math(EXPR hex "${code}" OUTPUT_FORMAT HEXADECIMAL)
  string(SUBSTRING "${hex}" 2 -1 hex)
  string(LENGTH "${hex}" len)
  if(len EQUAL 1)
    set(hex "0${hex}")
  endif()
  string(TOLOWER "${hex}" hex)
  if(code EQUAL 10)
    set(escape_${hex} "\\n\"\n    \"")
  elseif(code EQUAL 9)
    set(escape_${hex} "\\t")
  elseif(code EQUAL 13)
    set(escape_${hex} "\\r")
  elseif(code EQUAL 34)
    set(escape_${hex} "\\\"")
  elseif(code EQUAL 63)
    set(escape_${hex} "\\?")
  elseif(code EQUAL 92)
    set(escape_${hex} "\\\\")
  elseif(code GREATER_EQUAL 32 AND code LESS 127)
    string(ASCII ${code} char)
    set(escape_${hex} "${char}")
  else()
    math(EXPR d1 "${code} / 64")
    math(EXPR d2 "(${code} / 8) % 8")
    math(EXPR d3 "${code} % 8")
    set(escape_${hex} "\\${d1}${d2}${d3}")
  endif()
endforeach()

file(GLOB sql_files RELATIVE "${SCHEMA_DIR}" "${SCHEMA_DIR}/*.sql")
list(SORT sql_files)
if(NOT sql_files)
  message(FATAL_ERROR "schema: no migrations in ${SCHEMA_DIR}")
endif()

set(body "")
set(table "")
set(expected 1)
foreach(name IN LISTS sql_files)
  # A file that does not follow the pattern would be skipped silently otherwise.
  if(NOT name MATCHES "^([0-9][0-9][0-9])_[A-Za-z0-9_-]+\\.sql$")
    message(FATAL_ERROR
      "schema: ${SCHEMA_DIR}/${name}: migrations are named NNN_name.sql (three digits, then "
      "letters, digits, '_' or '-')")
  endif()
  string(REGEX REPLACE "^0+" "" version "${CMAKE_MATCH_1}")
  if(version STREQUAL "")
    set(version 0)
  endif()
  # Three-digit names sort numerically, so a mismatch here is a gap, a duplicate or a 000.
  if(NOT version EQUAL expected)
    string(REPLACE ";" ", " found "${sql_files}")
    message(FATAL_ERROR
      "schema: ${SCHEMA_DIR}/${name}: expected migration ${expected} here; versions must run "
      "1..N without gaps or duplicates (found: ${found})")
  endif()

  file(READ "${SCHEMA_DIR}/${name}" hex HEX)
  if(hex STREQUAL "")
    message(FATAL_ERROR "schema: ${SCHEMA_DIR}/${name} is empty")
  endif()
  string(REGEX MATCHALL ".." bytes "${hex}")
  set(literal "")
  foreach(byte IN LISTS bytes)
    if(byte STREQUAL "00")
      message(FATAL_ERROR "schema: ${SCHEMA_DIR}/${name} contains a NUL byte")
    endif()
    string(APPEND literal "${escape_${byte}}")
  endforeach()
  # A trailing newline has already closed the literal: drop the empty "" it opened.  (Testing
  # for a final quote instead would be fooled by SQL that ends in an escaped \".)
  string(REGEX MATCH "\n    \"$" trailing_newline "${literal}")
  if(trailing_newline)
    string(REGEX REPLACE "\n    \"$" "" literal "${literal}")
  else()
    string(APPEND literal "\"")
  endif()

  string(APPEND body "/* ${name} */\nstatic const char migration_${version}[] =\n    \"${literal};\n\n")
  if(DEFINED SET_VERSION)
    string(REPLACE "@VERSION@" "${version}" set_version "${SET_VERSION}")
    set(set_version "\"${set_version}\"")
  else()
    set(set_version "NULL")
  endif()
  string(APPEND table
    "    {${version}, \"${name}\", migration_${version}, ${set_version}},\n")
  math(EXPR expected "${expected} + 1")
endforeach()

set(content "/* Generated by schema/embed.cmake from schema/${DIALECT}/NNN_name.sql: do not edit. */
#include <stddef.h>

#include \"migrations.h\"

${body}const struct store_migration store_migrations_${DIALECT}[] = {
${table}};

const size_t store_migration_count_${DIALECT} =
    sizeof store_migrations_${DIALECT} / sizeof store_migrations_${DIALECT}[0];
")

# Written aside and renamed, so an interrupted run never leaves a half file that looks current.
file(WRITE "${OUTPUT}.tmp" "${content}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")

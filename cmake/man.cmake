# Fills in the placeholders of a man page: cmake -DIN=page -DOUT=file -DVERSION=x.y.z
# -DDATE=YYYY-MM-DD -DCONFIG=/etc/... -DDOCDIR=/usr/share/doc/... -P cmake/man.cmake
# Only these four words are replaced (a page holds other '@' signs, as in inet:8895@127.0.0.1).
file(READ "${IN}" page)
# In roff a '-' is a hyphen; in a path it must stay a minus sign (copied, searched for).
string(REPLACE "-" "\\-" CONFIG "${CONFIG}")
string(REPLACE "-" "\\-" DOCDIR "${DOCDIR}")
string(REPLACE "@MAN_VERSION@" "${VERSION}" page "${page}")
string(REPLACE "@MAN_DATE@" "${DATE}" page "${page}")
string(REPLACE "@MAN_CONFIG@" "${CONFIG}" page "${page}")
string(REPLACE "@MAN_DOCDIR@" "${DOCDIR}" page "${page}")
file(WRITE "${OUT}" "${page}")

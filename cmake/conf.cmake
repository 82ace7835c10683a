# Writes the installed configuration: cmake -DMILTER=milter-ingress -DSET_FILE=file -DOUT=file
# -P cmake/conf.cmake runs `milter-ingress -o k=v ... -C` with a -o for each line of SET_FILE:
# every option of the config table, commented out at its default, but those set.
file(STRINGS "${SET_FILE}" settings)
set(args)
foreach(setting IN LISTS settings)
  if(NOT setting STREQUAL "")
    list(APPEND args -o "${setting}")
  endif()
endforeach()
execute_process(COMMAND "${MILTER}" ${args} -C OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${MILTER} ${args} -C failed (${rc})")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")

# Run by `cmake --install` and by CPack at install time (package/CMakeLists.txt), when the prefix
# of this install is known: /usr for the package, /usr/local by default otherwise.
#
# - the units, with the programs' and docs' paths rewritten from /usr (as systemd/ writes them,
#   the packaged paths) to this prefix;
# - sysusers.d and tmpfiles.d entries;
# - the README under share/doc/sekisho (the units' Documentation=);
# - the example configuration /etc/sekisho/sekisho.yaml (PREFIX/etc/sekisho for another prefix),
#   never over an existing file: an admin's configuration is not replaced by `cmake --install`.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconfdir "/etc")
else()
  set(sysconfdir "${prefix}/etc")
endif()

set(staging "${SEKISHO_BINARY_DIR}/package/units")
file(MAKE_DIRECTORY "${staging}")
set(units sekishod.service sekisho-intercept.service sekisho-feed.service)
set(staged "")
foreach(unit IN LISTS units)
  file(READ "${SEKISHO_SOURCE_DIR}/systemd/${unit}" text)
  string(REPLACE "/usr/sbin/" "${prefix}/sbin/" text "${text}")
  string(REPLACE "/usr/share/doc/sekisho/" "${prefix}/share/doc/sekisho/" text "${text}")
  file(WRITE "${staging}/${unit}" "${text}")
  list(APPEND staged "${staging}/${unit}")
endforeach()
# file(INSTALL) puts $DESTDIR in front, as the install() rules' own code does.
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES ${staged})
file(INSTALL DESTINATION "${prefix}/lib/sysusers.d" TYPE FILE
     FILES "${SEKISHO_SOURCE_DIR}/systemd/sekisho.sysusers" RENAME sekisho.conf)
file(INSTALL DESTINATION "${prefix}/lib/tmpfiles.d" TYPE FILE
     FILES "${SEKISHO_SOURCE_DIR}/systemd/sekisho.tmpfiles" RENAME sekisho.conf)
file(INSTALL DESTINATION "${prefix}/share/doc/sekisho" TYPE FILE FILES "${SEKISHO_SOURCE_DIR}/README.md")

if(EXISTS "$ENV{DESTDIR}${sysconfdir}/sekisho/sekisho.yaml")
  message(STATUS "Keeping: $ENV{DESTDIR}${sysconfdir}/sekisho/sekisho.yaml (the example is in ${SEKISHO_SOURCE_DIR}/package)")
else()
  file(INSTALL DESTINATION "${sysconfdir}/sekisho" TYPE FILE FILES "${SEKISHO_SOURCE_DIR}/package/sekisho.yaml")
endif()

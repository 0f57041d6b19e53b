# Debian package of the exporter (cpack -G DEB in the build tree; tests/deploy/deb_check.sh).
# Included at the end of the top-level CMakeLists.txt. Layout, Debian style:
#   /usr/bin/tcpstate_exporter
#   /usr/lib/systemd/system/tcpstate_exporter.service   deploy/systemd/ unit, ExecStart moved to
#                                                        /usr/bin, options from /etc/default
#   /usr/lib/sysusers.d/tcpstate_exporter.conf          deploy/systemd/tcpstate_exporter.sysusers
#   /etc/default/tcpstate_exporter                       deploy/debian/tcpstate_exporter.default (conffile)
#   /etc/tcpstate_exporter/tcpstate_exporter.yml         config/tcpstate_exporter.yml (conffile)
#   /usr/share/doc/tcpstate_exporter/                    README.md, CHANGELOG.md, LICENSE as copyright

install(TARGETS tcpstate_exporter RUNTIME DESTINATION bin COMPONENT exporter)

# The packaged unit is the shipped one with two Debian changes: the binary's path and
# EnvironmentFile=-/etc/default/tcpstate_exporter with $ARGS appended to ExecStart.
file(READ ${PROJECT_SOURCE_DIR}/deploy/systemd/tcpstate_exporter.service _tcpstate_unit)
string(REPLACE "ExecStart=/usr/local/bin/tcpstate_exporter --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml"
  "EnvironmentFile=-/etc/default/tcpstate_exporter\nExecStart=/usr/bin/tcpstate_exporter --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml $ARGS"
  _tcpstate_deb_unit "${_tcpstate_unit}")
if(_tcpstate_deb_unit STREQUAL _tcpstate_unit)
  message(FATAL_ERROR "packaging.cmake: ExecStart line of deploy/systemd/tcpstate_exporter.service changed; update the replacement")
endif()
file(WRITE ${CMAKE_BINARY_DIR}/packaging/tcpstate_exporter.service "${_tcpstate_deb_unit}")

install(FILES ${CMAKE_BINARY_DIR}/packaging/tcpstate_exporter.service
  DESTINATION lib/systemd/system COMPONENT exporter)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/tcpstate_exporter.sysusers
  DESTINATION lib/sysusers.d RENAME tcpstate_exporter.conf COMPONENT exporter)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/tcpstate_exporter.default
  DESTINATION /etc/default RENAME tcpstate_exporter COMPONENT exporter)
install(FILES ${PROJECT_SOURCE_DIR}/config/tcpstate_exporter.yml
  DESTINATION /etc/tcpstate_exporter COMPONENT exporter)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION share/doc/tcpstate_exporter COMPONENT exporter)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION share/doc/tcpstate_exporter RENAME copyright COMPONENT exporter)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tcpstate-exporter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "tcpstate_exporter contributors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Prometheus exporter for the Linux TCP socket table")
set(CPACK_PACKAGE_CONTACT "tcpstate_exporter maintainers <https://github.com/tcpstate/tcpstate_exporter/issues>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Absolute destinations (/etc) go into the package too: install with DESTDIR into the staging tree.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
# cpack installs what is built already (the test runs after the build): no rebuild of "all".
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://github.com/tcpstate/tcpstate_exporter)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

/*
 * The cairn version, shown by --version, in logs and in protocol replies (OpenTSDB `version`).
 */
#ifndef CAIRN_CORE_VERSION_H
#define CAIRN_CORE_VERSION_H

#define CAIRN_VERSION "0.1.0"

#endif

# CMake toolchain file for the GNU Arm Embedded toolchain (arm-none-eabi-gcc with newlib).
#   cmake -S examples/tflm -B build-cmake -DCMAKE_TOOLCHAIN_FILE=examples/tflm/cmake/arm-none-eabi.cmake ...
# Set ARM_TOOLCHAIN_PREFIX to a full prefix (e.g. /opt/arm-gnu/bin/arm-none-eabi-) for a
# toolchain that is not on PATH.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
if(NOT DEFINED ARM_TOOLCHAIN_PREFIX)
  set(ARM_TOOLCHAIN_PREFIX arm-none-eabi-)
endif()
set(CMAKE_C_COMPILER ${ARM_TOOLCHAIN_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${ARM_TOOLCHAIN_PREFIX}g++)
set(CMAKE_ASM_COMPILER ${ARM_TOOLCHAIN_PREFIX}gcc)
set(CMAKE_AR ${ARM_TOOLCHAIN_PREFIX}ar)
set(CMAKE_SIZE ${ARM_TOOLCHAIN_PREFIX}size)
# Bare metal: CMake's compiler checks must not try to link a hosted program.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
